using System.Net.Sockets;
using Grpc.Core;
using Grpc.Net.Client;
using Tugboat.Agent.Runtimes.Cri.Api;

namespace Tugboat.Agent.Runtimes.Cri;

/// <summary>
/// The CRI's runtime and image services of a container runtime (containerd) over its unix socket, as the kubelet
/// calls them: gRPC over HTTP/2 without TLS, each call with a deadline.
/// </summary>
internal sealed class CriClient : IDisposable
{
    private readonly GrpcChannel _channel;

    public CriClient(string endpoint)
    {
        Endpoint = endpoint;
        var socketPath = endpoint.StartsWith("unix://", StringComparison.Ordinal) ? endpoint["unix://".Length..] : endpoint;
        var handler = new SocketsHttpHandler
        {
            UseProxy = false,
            ConnectCallback = async (_, ct) =>
            {
                var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
                try
                {
                    await socket.ConnectAsync(new UnixDomainSocketEndPoint(socketPath), ct).ConfigureAwait(false);
                    return new NetworkStream(socket, ownsSocket: true);
                }
                catch
                {
                    socket.Dispose();
                    throw;
                }
            },
            EnableMultipleHttp2Connections = true,
        };
        _channel = GrpcChannel.ForAddress("http://localhost", new GrpcChannelOptions
        {
            HttpHandler = handler,
            // The kubelet's limit for CRI messages (container lists on busy nodes are large).
            MaxReceiveMessageSize = 16 * 1024 * 1024,
        });
        Runtime = new RuntimeService.RuntimeServiceClient(_channel);
        Images = new ImageService.ImageServiceClient(_channel);
    }

    /// <summary>The endpoint as given (unix:///path or a path).</summary>
    public string Endpoint { get; }

    public RuntimeService.RuntimeServiceClient Runtime { get; }

    public ImageService.ImageServiceClient Images { get; }

    /// <summary>The kubelet's default deadline for a CRI call; image pulls get their own, longer one.</summary>
    public static readonly TimeSpan CallTimeout = TimeSpan.FromMinutes(2);

    public static CallOptions Options(CancellationToken ct, TimeSpan? timeout = null) =>
        new(deadline: DateTime.UtcNow + (timeout ?? CallTimeout), cancellationToken: ct);

    /// <summary>The runtime's name and version (containerd, 1.6.20~ds1); throws when it does not answer.</summary>
    public async Task<VersionResponse> VersionAsync(CancellationToken ct) =>
        await Runtime.VersionAsync(new VersionRequest { Version = "v1" }, Options(ct, TimeSpan.FromSeconds(5))).ConfigureAwait(false);

    public void Dispose() => _channel.Dispose();
}
