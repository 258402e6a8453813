namespace MassTransit.Patterns.Workflow;

/// <summary>Asks the processor which keys it holds (request; answered with <see cref="HeldKeyList"/>).</summary>
public sealed record ListHeldKeys;
