using Microsoft.Extensions.DependencyInjection;

namespace MassTransit.Patterns.Workflow;

/// <summary>One registered repairer: a typed one (for a message type URN) or a raw one (any message).</summary>
sealed class WorkflowRepairerRegistration
{
    WorkflowRepairerRegistration(string name, Type? clrType, Func<IServiceProvider, WorkflowEventState, CancellationToken, Task<RepairAttempt>> run)
    {
        Name = name;
        ClrType = clrType;
        MessageType = clrType is null ? null : MessageUrn.ForTypeString(clrType);
        Run = run;
    }

    public string Name { get; }

    /// <summary>The message type URN a typed repairer handles; null for a raw repairer.</summary>
    public string? MessageType { get; }

    /// <summary>The .NET type a typed repairer handles; null for a raw repairer.</summary>
    public Type? ClrType { get; }

    public Func<IServiceProvider, WorkflowEventState, CancellationToken, Task<RepairAttempt>> Run { get; }

    public static WorkflowRepairerRegistration Typed<T, TRepairer>()
        where T : class
        where TRepairer : class, IMessageRepairer<T> =>
        new(typeof(TRepairer).Name, typeof(T), async (services, state, ct) =>
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
