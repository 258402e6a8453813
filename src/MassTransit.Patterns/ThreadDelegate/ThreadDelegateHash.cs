namespace MassTransit.Patterns.ThreadDelegate;

/// <summary>The key hash shared by fixed-hash lanes and stripes: the same value for a key in every process.</summary>
internal static class ThreadDelegateHash
{
    /// <summary>FNV-1a over the key's UTF-16 code units (not <see cref="string.GetHashCode()"/>, which differs per process).</summary>
    public static uint Of(string key)
    {
        ArgumentNullException.ThrowIfNull(key);
        var hash = 2166136261u;
        foreach (var c in key)
        {
            hash = (hash ^ (byte)c) * 16777619u;
            hash = (hash ^ (byte)(c >> 8)) * 16777619u;
        }
        return hash;
    }
}
