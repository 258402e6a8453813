namespace MassTransit.Patterns.Supervisor;

/// <summary>Runs the supervisor with its endpoint: started when ready, stopped when stopping (then the gate opens to drain).</summary>
internal sealed class SupervisorEndpointObserver(ConsumerSupervisor supervisor) : IReceiveEndpointObserver
{
    public Task Ready(ReceiveEndpointReady ready) => supervisor.StartAsync();

    public async Task Stopping(ReceiveEndpointStopping stopping)
    {
        await supervisor.StopAsync().ConfigureAwait(false);
        supervisor.OpenForDrain();
    }

    public Task Completed(ReceiveEndpointCompleted completed) => Task.CompletedTask;

    public Task Faulted(ReceiveEndpointFaulted faulted) => Task.CompletedTask;
}
