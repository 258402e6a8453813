namespace MassTransit.Patterns.Workflow;

/// <summary>What a typed repairer is given.</summary>
/// <param name="Message">The failed message, deserialized from the body stored by the workflow.</param>
/// <param name="Failure">The failure: exception type and message, attempts so far.</param>
public sealed record MessageRepairContext<T>(T Message, WorkflowFailureInfo Failure)
    where T : class;
