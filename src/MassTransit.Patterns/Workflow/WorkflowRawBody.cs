namespace MassTransit.Patterns.Workflow;

/// <summary>The placeholder a resubmission is sent as: the transport carries the stored raw body, not this object.</summary>
public sealed class WorkflowRawBody;
