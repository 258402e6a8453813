namespace MassTransit.Patterns.Ambulance;

/// <summary>A snapshot of a gate, for metrics and tests.</summary>
readonly record struct GateState(int UrgentInUse, int NormalInUse, int UrgentWaiting, int NormalWaiting, int Borrowed);
