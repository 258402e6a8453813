using MassTransit.Patterns.RabbitMQ.Multibroker;
using MassTransit.Patterns.Testing;

namespace MassTransit.Patterns.RabbitMQ.Tests.Cluster;

/// <summary>
/// A multibroker broker that is a RabbitMQ cluster (its host configuration lists every node): its probe connects the
/// way its bus does, to any node that answers, so losing the first node does not take the whole cluster out of rotation.
/// </summary>
[Collection(ClusterCollection.Name)]
public sealed class MultibrokerClusterProbeTests(ITestOutputHelper output)
{
    [Fact]
    public async Task The_probe_of_a_cluster_broker_answers_through_another_node_when_the_first_is_down()
    {
        var ports = ServiceEnvironment.RabbitClusterAmqpPorts;
        var transport = new RabbitMqMultibrokerTransport(new Uri($"rabbitmq://{ServiceEnvironment.RabbitHost}:{ports[0]}/"), h =>
        {
            h.Username(ServiceEnvironment.RabbitUser);
            h.Password(ServiceEnvironment.RabbitPassword);
            h.UseCluster(c =>
            {
                foreach (var port in ports)
                    c.Node($"{ServiceEnvironment.RabbitHost}:{port}");
            });
        });
        try
        {
            using (var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10)))
                await transport.ProbeAsync(null!, timeout.Token);

            await ServiceEnvironment.RunServicesScriptAsync("cluster-kill 1");
            // The probe's connection was to node 1: the first probe after the kill may fail on it (and drop it); the next
            // one connects afresh, to a node that answers.
            Exception? first = null;
            try
            {
                using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
                await transport.ProbeAsync(null!, timeout.Token);
            }
            catch (Exception exception)
            {
                first = exception;
            }
            output.WriteLine($"first probe after the kill: {(first is null ? "answered" : "failed: " + first.Message)}");
            using (var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10)))
                await transport.ProbeAsync(null!, timeout.Token);
        }
        finally
        {
            await transport.CloseProbeAsync();
            await ServiceEnvironment.RunServicesScriptAsync("cluster-start 1");
        }
    }
}
