using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Storage;

namespace MassTransit.Patterns.EntityFrameworkCore.EventForwarding;

/// <summary>
/// Makes the current flow run inside an execution strategy that never retries (EF's own async-local
/// <c>ExecutionStrategy.Current</c>, set through its protected setter), as the per-message path does by
/// running the whole message in <c>strategy.ExecuteAsync</c>: nested strategies then run their operation
/// once. So a retrying strategy (<c>EnableRetryOnFailure</c>) neither retries a statement of a batch member
/// alone nor refuses to run inside the batch's transaction; a failure fails the batch, which is split, and
/// each member then runs alone under the application's strategy as usual.
/// </summary>
sealed class ExecutionStrategySuspension : ExecutionStrategy
{
    ExecutionStrategySuspension(DbContext context)
        : base(context, 0, TimeSpan.Zero)
    {
    }

    /// <summary>Enters a non-retrying strategy for the rest of the current asynchronous flow.</summary>
    public static void Suspend(DbContext context) => Current = new ExecutionStrategySuspension(context);

    protected override bool ShouldRetryOn(Exception exception) => false;
}
