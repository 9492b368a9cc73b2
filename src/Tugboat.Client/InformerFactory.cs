namespace Tugboat.Client;

/// <summary>
/// One informer per collection, shared by every component that asks for it (client-go's shared informer factory), so
/// that a process caches each object once however many controllers watch it. Cached objects carry no managedFields.
/// </summary>
public sealed class InformerFactory(ApiClient client)
{
    private readonly Dictionary<string, Informer> _informers = new(StringComparer.Ordinal);

    /// <summary>The shared informer of <paramref name="collectionPath"/>; the first caller's resync period applies.</summary>
    public Informer For(string collectionPath, TimeSpan? resync = null)
    {
        lock (_informers)
        {
            if (!_informers.TryGetValue(collectionPath, out var informer))
            {
                informer = new Informer(client, collectionPath, resync: resync) { StripManagedFields = true };
                _informers[collectionPath] = informer;
            }
            return informer;
        }
    }
}
