namespace MassTransit.Patterns.Multibroker;

/// <summary>
/// Orders the brokers for one message: the brokers in rotation first, in the strategy's order, then
/// the others (tried only when every broker in rotation failed). Thread-safe.
/// </summary>
sealed class BrokerSelection
{
    readonly MultibrokerStrategy _strategy;
    readonly string[] _names;
    readonly int[] _weights;
    readonly int[] _current;
    readonly Lock _weightedLock = new();
    long _turn = -1;

    public BrokerSelection(MultibrokerStrategy strategy, IReadOnlyList<string> names, IReadOnlyList<int> weights)
    {
        if (names.Count == 0 || names.Count != weights.Count)
            throw new ArgumentException("one weight per broker, at least one broker");
        _strategy = strategy;
        _names = names.ToArray();
        _weights = weights.ToArray();
        _current = new int[_names.Length];
    }

    public int Count => _names.Length;

    /// <summary>The order in which to try the brokers for a message with <paramref name="key"/> (null: no key).</summary>
    public int[] Order(ReadOnlySpan<bool> inRotation, string? key)
    {
        var order = new int[_names.Length];
        var strategy = _strategy == MultibrokerStrategy.KeyHash && key is null ? MultibrokerStrategy.RoundRobin : _strategy;
        switch (strategy)
        {
            case MultibrokerStrategy.KeyHash:
                KeyOrder(key!, order);
                break;
            case MultibrokerStrategy.Weighted:
                WeightedOrder(inRotation, order);
                break;
            default:
                RoundRobinOrder(inRotation, order);
                break;
        }

        // A stable partition: brokers in rotation keep their order, then the others keep theirs.
        var result = new int[order.Length];
        var n = 0;
        foreach (var i in order)
            if (inRotation[i])
                result[n++] = i;
        foreach (var i in order)
            if (!inRotation[i])
                result[n++] = i;
        return result;
    }

    void RoundRobinOrder(ReadOnlySpan<bool> inRotation, int[] order)
    {
        // Rotate over the brokers in rotation only, so that each gets 1/k of the messages when k are healthy.
        var healthy = 0;
        foreach (var h in inRotation)
            if (h)
                healthy++;
        var turn = Interlocked.Increment(ref _turn);
        var start = 0;
        if (healthy > 0)
        {
            var pick = (int)(turn % healthy);
            for (var i = 0; i < _names.Length; i++)
                if (inRotation[i] && pick-- == 0)
                {
                    start = i;
                    break;
                }
        }
        else
            start = (int)(turn % _names.Length);
        for (var i = 0; i < order.Length; i++)
            order[i] = (start + i) % order.Length;
    }

    void WeightedOrder(ReadOnlySpan<bool> inRotation, int[] order)
    {
        // Smooth weighted round-robin (as in nginx): each broker in rotation gains its weight, the richest
        // is picked and pays the total. Over any window of sum(weights) picks the counts match the weights.
        var best = -1;
        lock (_weightedLock)
        {
            var total = 0;
            for (var i = 0; i < _names.Length; i++)
            {
                if (!inRotation[i])
                    continue;
                _current[i] += _weights[i];
                total += _weights[i];
                if (best < 0 || _current[i] > _current[best])
                    best = i;
            }
            if (best >= 0)
                _current[best] -= total;
        }
        if (best < 0)
        {
            RoundRobinOrder(inRotation, order);
            return;
        }
        order[0] = best;
        var n = 1;
        foreach (var i in Enumerable.Range(0, _names.Length).Where(i => i != best).OrderByDescending(i => _weights[i]))
            order[n++] = i;
    }

    void KeyOrder(string key, int[] order)
    {
        var scores = new double[_names.Length];
        for (var i = 0; i < _names.Length; i++)
        {
            order[i] = i;
            scores[i] = RendezvousHash.Score(key, _names[i], _weights[i]);
        }
        Array.Sort(scores, order);
        Array.Reverse(order);
    }
}
