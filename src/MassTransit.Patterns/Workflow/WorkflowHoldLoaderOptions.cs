namespace MassTransit.Patterns.Workflow;

/// <summary>Where the hold loader asks and how long it waits.</summary>
public sealed class WorkflowHoldLoaderOptions
{
    Uri? _processorAddress;

    /// <summary>
    /// The processor's address. Left unset, it follows the processor registered in the same container
    /// (<see cref="WorkflowProcessorOptions.Address"/>), else <c>queue:workflow-repair</c>; set to another queue
    /// than that processor's, the start fails.
    /// </summary>
    public Uri ProcessorAddress
    {
        get => _processorAddress ?? WorkflowProcessorOptions.DefaultAddress;
        set => _processorAddress = value;
    }

    /// <summary>The address asked: the one set, else the processor's in this container, else the default.</summary>
    internal Uri ResolveProcessorAddress(WorkflowProcessorOptions? processor) => _processorAddress ?? processor?.Address ?? WorkflowProcessorOptions.DefaultAddress;

    /// <summary>True when <see cref="ProcessorAddress"/> was set.</summary>
    internal bool ProcessorAddressSet => _processorAddress is not null;

    /// <summary>How long the filter waits for the load at start before deciding without it.</summary>
    public TimeSpan LoadTimeout { get; set; } = TimeSpan.FromSeconds(10);
}
