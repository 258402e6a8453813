namespace MassTransit.Patterns.Workflow;

/// <summary>
/// Loads the keys the processor still holds into this process's <see cref="WorkflowHoldRegistry"/>
/// when the bus starts, so that a restarted instance keeps holding them.
/// </summary>
sealed partial class WorkflowHoldLoader(WorkflowHoldRegistry registry, WorkflowHoldLoaderOptions options,
    Microsoft.Extensions.Logging.ILogger<WorkflowHoldLoader> logger, WorkflowProcessorOptions? processor = null) : IBusObserver
{
    readonly Uri _processorAddress = options.ResolveProcessorAddress(processor);
    readonly CancellationTokenSource _stopping = new();
    Task? _load;

    /// <summary>Asks the processor at <paramref name="processorAddress"/> and fills <paramref name="registry"/>.</summary>
    public static async Task<int> LoadAsync(WorkflowHoldRegistry registry, IBus bus, Uri processorAddress, TimeSpan timeout, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(registry);
        ArgumentNullException.ThrowIfNull(bus);
        var client = bus.CreateRequestClient<ListHeldKeys>(processorAddress, timeout);
        var response = await client.GetResponse<HeldKeyList>(new ListHeldKeys(), cancellationToken).ConfigureAwait(false);
        foreach (var held in response.Message.Keys)
            registry.Hold(held.Queue, held.Key, held.LeaderId);
        return response.Message.Keys.Length;
    }

    /// <inheritdoc />
    public void PostCreate(IBus bus)
    {
    }

    /// <inheritdoc />
    public void CreateFaulted(Exception exception) => registry.MarkReady();

    /// <inheritdoc />
    public Task PreStart(IBus bus) => Task.CompletedTask;

    /// <inheritdoc />
    public Task PostStart(IBus bus, Task<BusReady> busReady)
    {
        // Kept, and awaited when the bus stops (PreStop cancels what is still waiting), so no load outlives its bus.
        _load = LoadWhenReadyAsync(bus, busReady, _stopping.Token);
        return Task.CompletedTask;
    }

    async Task LoadWhenReadyAsync(IBus bus, Task<BusReady> busReady, CancellationToken stopping)
    {
        await Task.Yield();
        try
        {
            await busReady.WaitAsync(stopping).ConfigureAwait(false);
            await LoadAsync(registry, bus, _processorAddress, options.LoadTimeout, stopping).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (stopping.IsCancellationRequested)
        {
            // The bus is stopping: nothing left to hold here.
        }
        catch (Exception e)
        {
            LogLoadFailed(logger, e, _processorAddress);
        }
        finally
        {
            registry.MarkReady();
        }
    }

    /// <inheritdoc />
    public Task StartFaulted(IBus bus, Exception exception)
    {
        registry.MarkReady();
        return Task.CompletedTask;
    }

    /// <inheritdoc />
    public async Task PreStop(IBus bus)
    {
        await _stopping.CancelAsync().ConfigureAwait(false);
        if (_load is { } load)
            await load.ConfigureAwait(false);
    }

    /// <inheritdoc />
    public Task PostStop(IBus bus) => Task.CompletedTask;

    /// <inheritdoc />
    public Task StopFaulted(IBus bus, Exception exception) => Task.CompletedTask;

    [Microsoft.Extensions.Logging.LoggerMessage(EventId = 3005, Level = Microsoft.Extensions.Logging.LogLevel.Warning,
        Message = "Workflow event: the keys held by the processor at {Address} could not be loaded; keys held before this start are not held here")]
    static partial void LogLoadFailed(Microsoft.Extensions.Logging.ILogger logger, Exception exception, Uri address);
}
