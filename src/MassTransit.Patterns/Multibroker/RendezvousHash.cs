namespace MassTransit.Patterns.Multibroker;

/// <summary>
/// Weighted rendezvous (highest random weight) hashing: each (key, broker) pair gets a score, a key
/// goes to the broker with the highest. Removing a broker moves only the keys it had, each to its own
/// second choice; adding it back returns exactly those keys. The same in every process.
/// </summary>
internal static class RendezvousHash
{
    /// <summary>The score of <paramref name="broker"/> for <paramref name="key"/>: <c>-weight / ln(u)</c> with u uniform in (0, 1) from the pair's hash.</summary>
    public static double Score(string key, string broker, int weight)
    {
        ArgumentNullException.ThrowIfNull(key);
        ArgumentNullException.ThrowIfNull(broker);
        var hash = 14695981039346656037ul;
        foreach (var c in key)
            hash = (hash ^ c) * 1099511628211ul;
        hash = (hash ^ 0xFF) * 1099511628211ul;
        foreach (var c in broker)
            hash = (hash ^ c) * 1099511628211ul;
        hash = Mix(hash);
        var unit = ((hash >> 11) + 0.5) / (1ul << 53);
        return -weight / Math.Log(unit);
    }

    /// <summary>The index of the broker a key goes to among <paramref name="brokers"/> (names and weights).</summary>
    public static int Pick(string key, IReadOnlyList<(string Name, int Weight)> brokers)
    {
        var best = -1;
        var bestScore = double.NegativeInfinity;
        for (var i = 0; i < brokers.Count; i++)
        {
            var score = Score(key, brokers[i].Name, brokers[i].Weight);
            if (score > bestScore)
            {
                best = i;
                bestScore = score;
            }
        }
        return best;
    }

    static ulong Mix(ulong z)
    {
        // splitmix64's finalizer: FNV's low bits are weak, this spreads every input bit.
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ul;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBul;
        return z ^ (z >> 31);
    }
}
