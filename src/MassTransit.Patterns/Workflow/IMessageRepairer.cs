namespace MassTransit.Patterns.Workflow;

/// <summary>
/// Repairs failed messages of type <typeparamref name="T"/> automatically. Register several with
/// <c>x.AddMessageRepairer&lt;T, TRepairer&gt;()</c>: they are tried in registration order until one
/// repairs or discards. A repairer runs inside the workflow processor (a scoped service of its
/// message), so it may use the application's services.
/// </summary>
public interface IMessageRepairer<T>
    where T : class
{
    /// <summary>Returns <see cref="RepairResult{T}.Repaired"/>, <see cref="RepairResult{T}.Discard"/> or <see cref="RepairResult{T}.CannotRepair"/>.</summary>
    Task<RepairResult<T>> Repair(MessageRepairContext<T> context, CancellationToken cancellationToken);
}
