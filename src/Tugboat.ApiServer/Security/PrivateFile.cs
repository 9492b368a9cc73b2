namespace Tugboat.ApiServer.Security;

/// <summary>Files only the server's user may read (keys, tokens, credentials).</summary>
internal static class PrivateFile
{
    /// <summary>Writes <paramref name="content"/> to a file created owner-only (0600) before any byte is in it, then moved into place.</summary>
    public static void Write(string path, string content)
    {
        var tmp = path + ".tmp";
        File.WriteAllText(tmp, string.Empty);
        File.SetUnixFileMode(tmp, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        File.WriteAllText(tmp, content);
        File.Move(tmp, path, overwrite: true);
    }
}
