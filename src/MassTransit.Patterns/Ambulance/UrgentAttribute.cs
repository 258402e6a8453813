namespace MassTransit.Patterns.Ambulance;

/// <summary>
/// Marks a message type urgent: every message of this type (or of a type that inherits it or
/// implements it) is sent and published to the ambulance lane of endpoints that have one. Only
/// buses configured with <c>UseAmbulanceLane</c> read it; <c>context.SetUrgent(false)</c> overrides it.
/// </summary>
[AttributeUsage(AttributeTargets.Class | AttributeTargets.Interface | AttributeTargets.Struct, Inherited = true)]
public sealed class UrgentAttribute : Attribute;
