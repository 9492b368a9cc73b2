using System.Security.Cryptography;
using System.Text;

namespace Tugboat.Storage.Encryption;

/// <summary>
/// AES-GCM encryption of stored values in upstream's envelope, <c>k8s:enc:aesgcm:v1:&lt;key name&gt;:</c> followed by a
/// random 12-byte nonce, the ciphertext and the 16-byte tag. The first key encrypts new writes; every key decrypts, so
/// keys rotate as upstream's do: add the new key first, rewrite the data, then drop the old key.
/// When <see cref="WritePlaintext"/> is set (upstream's identity provider listed first) writes are not encrypted.
/// </summary>
public sealed class AesGcmKeyRing
{
    private const string Prefix = "k8s:enc:aesgcm:v1:";
    private readonly List<(string Name, byte[] Key)> _keys;

    public AesGcmKeyRing(IEnumerable<(string Name, byte[] Key)> keys, bool writePlaintext, bool readPlaintext)
    {
        _keys = keys.ToList();
        foreach (var (name, key) in _keys)
        {
            if (key.Length is not (16 or 24 or 32))
            {
                throw new ArgumentException($"aesgcm key \"{name}\" must be 16, 24 or 32 bytes, not {key.Length}");
            }
            if (name.Length == 0 || name.Contains(':'))
            {
                throw new ArgumentException($"aesgcm key name \"{name}\" must be non-empty and contain no ':'");
            }
        }
        if (_keys.Count == 0 && !writePlaintext)
        {
            throw new ArgumentException("an encryption configuration needs at least one key or the identity provider");
        }
        WritePlaintext = writePlaintext;
        ReadPlaintext = readPlaintext;
    }

    public bool WritePlaintext { get; }

    public bool ReadPlaintext { get; }

    public byte[] Encrypt(ReadOnlySpan<byte> plaintext)
    {
        if (WritePlaintext)
        {
            return plaintext.ToArray();
        }
        var (name, key) = _keys[0];
        var header = Encoding.ASCII.GetBytes(Prefix + name + ":");
        var output = new byte[header.Length + 12 + plaintext.Length + 16];
        header.CopyTo(output, 0);
        var nonce = output.AsSpan(header.Length, 12);
        RandomNumberGenerator.Fill(nonce);
        using var aes = new AesGcm(key, 16);
        aes.Encrypt(nonce, plaintext, output.AsSpan(header.Length + 12, plaintext.Length), output.AsSpan(header.Length + 12 + plaintext.Length, 16));
        return output;
    }

    /// <summary>Decrypts a stored value; throws <see cref="CryptographicException"/> when no configured key can read it.</summary>
    public byte[] Decrypt(ReadOnlySpan<byte> stored)
    {
        if (!stored.StartsWith(Encoding.ASCII.GetBytes(Prefix)))
        {
            return ReadPlaintext
                ? stored.ToArray()
                : throw new CryptographicException("a stored value is not encrypted and the identity provider is not configured to read it");
        }
        var rest = stored[Prefix.Length..];
        var colon = rest.IndexOf((byte)':');
        if (colon <= 0)
        {
            throw new CryptographicException("malformed aesgcm envelope");
        }
        var name = Encoding.ASCII.GetString(rest[..colon]);
        var key = _keys.FirstOrDefault(k => k.Name == name).Key
            ?? throw new CryptographicException($"no configured aesgcm key is named \"{name}\"");
        var body = rest[(colon + 1)..];
        if (body.Length < 28)
        {
            throw new CryptographicException("malformed aesgcm envelope");
        }
        var plaintext = new byte[body.Length - 28];
        using var aes = new AesGcm(key, 16);
        aes.Decrypt(body[..12], body[12..^16], body[^16..], plaintext);
        return plaintext;
    }
}
