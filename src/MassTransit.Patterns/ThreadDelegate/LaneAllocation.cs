using MassTransit.Patterns.Configuration;

namespace MassTransit.Patterns.ThreadDelegate;

/// <summary>How a new key is given a lane.</summary>
public enum LaneAllocation
{
    /// <summary>
    /// A key with messages in flight stays on its lane (the allocation map); a key with nothing in
    /// flight goes to the lane with the fewest messages running or waiting. Unrelated keys rarely
    /// wait behind each other. The default.
    /// </summary>
    LeastLoaded,

    /// <summary>A key always goes to lane <c>hash(key) % Workers</c>, like a partitioner: colliding keys wait behind each other.</summary>
    FixedHash
}
