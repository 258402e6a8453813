namespace MassTransit.Patterns.Dashboard.Operations;

/// <summary>Every operations page the console knows, in navigation order; a page shows when its pattern is in use.</summary>
static class OperationsPages
{
    public static IReadOnlyList<OperationsPage> All { get; } =
    [
        new SupervisorOperationsPage(),
        new ControlFlowOperationsPage(),
        new AmbulanceOperationsPage(),
        new ThreadDelegateOperationsPage(),
        new ContextualOperationsPage(),
        new WatchOperationsPage(),
        new MultibrokerOperationsPage(),
        new EventForwardingOperationsPage(),
        new WorkflowOperationsPage()
    ];

    /// <summary>The pages whose pattern the app uses.</summary>
    public static IReadOnlyList<OperationsPage> InUse(IServiceProvider services) => All.Where(p => p.InUse(services)).ToArray();
}
