namespace Tugboat.ApiServer.Hosting;

/// <summary>A configuration file of the server is invalid or unsupported; the message says which and why.</summary>
public sealed class ConfigurationException(string message, Exception? inner = null) : Exception(message, inner);
