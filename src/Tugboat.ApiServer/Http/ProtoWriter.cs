using System.Text;

namespace Tugboat.ApiServer.Http;

/// <summary>A minimal protobuf wire-format writer: nested messages are written to their own writer, then embedded.</summary>
internal sealed class ProtoWriter
{
    private readonly MemoryStream _buffer = new();

    public ProtoWriter String(int field, string? value)
    {
        if (!string.IsNullOrEmpty(value))
        {
            Bytes(field, Encoding.UTF8.GetBytes(value));
        }
        return this;
    }

    public ProtoWriter Bool(int field, bool value)
    {
        if (value)
        {
            Tag(field, 0);
            Varint(1);
        }
        return this;
    }

    public ProtoWriter Message(int field, ProtoWriter message) => Bytes(field, message.ToArray());

    public ProtoWriter Bytes(int field, byte[] value)
    {
        Tag(field, 2);
        Varint((ulong)value.Length);
        _buffer.Write(value);
        return this;
    }

    public byte[] ToArray() => _buffer.ToArray();

    private void Tag(int field, int wire) => Varint(((ulong)field << 3) | (uint)wire);

    private void Varint(ulong v)
    {
        while (v >= 0x80)
        {
            _buffer.WriteByte((byte)(v | 0x80));
            v >>= 7;
        }
        _buffer.WriteByte((byte)v);
    }
}
