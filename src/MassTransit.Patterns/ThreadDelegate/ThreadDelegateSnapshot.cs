namespace MassTransit.Patterns.ThreadDelegate;

/// <summary>The state of one endpoint's thread delegate at a moment.</summary>
/// <param name="LanesBusy">Lanes running a message.</param>
/// <param name="KeysInFlight">Keys with messages admitted and not finished (or held).</param>
/// <param name="Buffered">Messages admitted and waiting for their lane.</param>
/// <param name="WaitingPerLane">Messages waiting on each lane.</param>
/// <param name="KeysHeld">Keys held after a failure.</param>
/// <param name="Parked">Of <paramref name="Buffered"/>, messages waiting on their key because its lane was full.</param>
public sealed record ThreadDelegateSnapshot(int LanesBusy, int KeysInFlight, int Buffered, IReadOnlyList<int> WaitingPerLane, int KeysHeld, int Parked = 0);
