using MassTransit.Patterns.Dashboard.Operations;

namespace MassTransit.Patterns.Dashboard;

/// <summary>What the mounted console shows, decided when it is mapped: the repair console (when a workflow store is registered) and the operations pages of the patterns in use.</summary>
/// <param name="Workflow">True when the repair console's pages are mapped.</param>
/// <param name="Operations">The operations pages of the patterns the app uses, in navigation order.</param>
sealed record DashboardSections(bool Workflow, IReadOnlyList<OperationsPage> Operations);
