using Microsoft.Extensions.DependencyInjection;

namespace MassTransit.Patterns.Workflow;

/// <summary>One registered repairer: a typed one (for a message type URN) or a raw one (any message).</summary>
sealed class WorkflowRepairerRegistration
{
    WorkflowRepairerRegistration(string name, string? messageType, Func<IServiceProvider, WorkflowEventState, CancellationToken, Task<RepairAttempt>> run)
    {
        Name = name;
        MessageType = messageType;
        Run = run;
    }

    public string Name { get; }

    /// <summary>The message type URN a typed repairer handles; null for a raw repairer.</summary>
    public string? MessageType { get; }

    public Func<IServiceProvider, WorkflowEventState, CancellationToken, Task<RepairAttempt>> Run { get; }

    public static WorkflowRepairerRegistration Typed<T, TRepairer>()
        where T : class
        where TRepairer : class, IMessageRepairer<T> =>
        new(typeof(TRepairer).Name, MessageUrn.ForTypeString<T>(), async (services, state, ct) =>
        {
            if (state.Malformed || !WorkflowBody.TryRead<T>(state.Body, out var message) || message is null)
                return RepairAttempt.NotRepaired(typeof(TRepairer).Name, "the body does not deserialize to " + typeof(T).Name);
            var result = await services.GetRequiredService<TRepairer>().Repair(new MessageRepairContext<T>(message, state.ToFailureInfo()), ct).ConfigureAwait(false);
            return result.Outcome switch
            {
                RepairOutcome.Repaired => RepairAttempt.Repaired(typeof(TRepairer).Name, WorkflowBody.Replace(state.Body, result.Message!), null, result.Note),
                RepairOutcome.Discard => RepairAttempt.Discarded(typeof(TRepairer).Name, result.Note),
                _ => RepairAttempt.NotRepaired(typeof(TRepairer).Name, result.Note)
            };
        });

    public static WorkflowRepairerRegistration Raw<TRepairer>()
        where TRepairer : class, IRawMessageRepairer =>
        new(typeof(TRepairer).Name, null, async (services, state, ct) =>
        {
            var result = await services.GetRequiredService<TRepairer>().Repair(new RawMessageRepairContext(state.Body, state.ContentType, state.ToFailureInfo()), ct)
                .ConfigureAwait(false);
            return result.Outcome switch
            {
                RepairOutcome.Repaired => RepairAttempt.Repaired(typeof(TRepairer).Name, result.Body!, result.ContentType, result.Note),
                RepairOutcome.Discard => RepairAttempt.Discarded(typeof(TRepairer).Name, result.Note),
                _ => RepairAttempt.NotRepaired(typeof(TRepairer).Name, result.Note)
            };
        });
}

/// <summary>What one repairer did.</summary>
sealed record RepairAttempt(string Repairer, RepairOutcome Outcome, byte[]? Body, string? ContentType, string? Note)
{
    public static RepairAttempt Repaired(string repairer, byte[] body, string? contentType, string? note) => new(repairer, RepairOutcome.Repaired, body, contentType, note);

    public static RepairAttempt Discarded(string repairer, string? note) => new(repairer, RepairOutcome.Discard, null, null, note);

    public static RepairAttempt NotRepaired(string repairer, string? note) => new(repairer, RepairOutcome.CannotRepair, null, null, note);
}

/// <summary>The registered repairers, in registration order: typed ones by message type, then raw ones.</summary>
sealed class WorkflowRepairerRegistry(IEnumerable<WorkflowRepairerRegistration> registrations)
{
    readonly WorkflowRepairerRegistration[] _all = [.. registrations];

    public IEnumerable<WorkflowRepairerRegistration> For(WorkflowEventState state)
    {
        var types = state.MessageTypeList();
        return _all.Where(r => r.MessageType is not null && types.Contains(r.MessageType)).Concat(_all.Where(r => r.MessageType is null));
    }
}
