using Microsoft.Extensions.DependencyInjection;

namespace MassTransit.Patterns.Workflow;

/// <summary>The registered repairers, in registration order: typed ones by message type, then raw ones.</summary>
sealed class WorkflowRepairerRegistry(IEnumerable<WorkflowRepairerRegistration> registrations)
{
    readonly WorkflowRepairerRegistration[] _all = [.. registrations];

    /// <summary>The .NET types of the typed repairers, by message type URN.</summary>
    public IEnumerable<Type> MessageTypes => _all.Where(r => r.ClrType is not null).Select(r => r.ClrType!).Distinct();

    public IEnumerable<WorkflowRepairerRegistration> For(WorkflowEventState state)
    {
        var types = state.MessageTypeList();
        return _all.Where(r => r.MessageType is not null && types.Contains(r.MessageType)).Concat(_all.Where(r => r.MessageType is null));
    }
}
