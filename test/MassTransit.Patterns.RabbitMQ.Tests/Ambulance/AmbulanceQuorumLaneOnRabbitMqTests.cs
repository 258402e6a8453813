using System.Collections.Concurrent;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using MassTransit.Patterns.Ambulance;
using MassTransit.Patterns.RabbitMQ.Tests.Accounting;
using MassTransit.Patterns.RabbitMQ.Tests.Ambulance.Messages;
using MassTransit.Patterns.Testing;
using MassTransit.Testing;
using MassTransit.Transports;
using Microsoft.Extensions.DependencyInjection;

namespace MassTransit.Patterns.RabbitMQ.Tests.Ambulance;

/// <summary>
/// Each way a user asks MassTransit for a quorum queue makes the lane a quorum queue too, because the lane endpoint is
/// configured as its queue's endpoint is: an <c>AddConfigureEndpointsCallback</c>, the consumer's endpoint definition
/// (<c>AddConfigureEndpointCallback</c>), the callback of <c>AmbulanceConfigurator.ReceiveEndpoint</c>, and event
/// forwarding's <c>QuorumQueues</c>; and where the configuration reaches the queue's endpoint only, the lane follows its
/// queue's type. Read through the management API; one urgent and one normal message go through.
/// </summary>
public sealed class AmbulanceQuorumLaneOnRabbitMqTests
{
    public sealed class Seen
    {
        public readonly ConcurrentQueue<(Guid Id, string Queue)> All = new();
    }

    public sealed class WorkConsumer(Seen seen) : IConsumer<Work>
    {
        public Task Consume(ConsumeContext<Work> context)
        {
            seen.All.Enqueue((context.MessageId!.Value, context.ReceiveContext.InputAddress.GetEndpointName()!));
            return Task.CompletedTask;
        }
    }

    static void Quorum(IReceiveEndpointConfigurator cfg)
    {
        if (cfg is IRabbitMqReceiveEndpointConfigurator rabbit)
            rabbit.SetQuorumQueue();
    }

    [Theory]
    [InlineData("AddConfigureEndpointsCallback")]
    [InlineData("AddConfigureEndpointCallback")]
    [InlineData("AmbulanceConfigurator.ReceiveEndpoint")]
    [InlineData("UseEventForwarding QuorumQueues")]
    [InlineData("a callback that picks the queue by its address")]
    public async Task The_lane_is_a_quorum_queue_when_its_queue_is_asked_for_as_one(string how)
    {
        var queue = Broker.UniqueQueue("amb-quorum");
        var lane = queue + AmbulanceLaneOptions.DefaultSuffix;
        var seen = new Seen();
        await using var provider = new ServiceCollection()
            .AddMetrics()
            .AddSingleton(seen)
            .AddMassTransitTestHarness(x =>
            {
                if (how == "UseEventForwarding QuorumQueues")
                    x.AddEventForwarding();
                if (how == "AddConfigureEndpointsCallback")
                    x.AddConfigureEndpointsCallback((_, _, cfg) => Quorum(cfg));
                // Reaches the queue's endpoint only: the lane follows its queue's type.
                if (how == "a callback that picks the queue by its address")
                    x.AddConfigureEndpointsCallback((_, _, cfg) =>
                    {
                        if (cfg.InputAddress.GetEndpointName() == queue)
                            Quorum(cfg);
                    });
                if (how != "AmbulanceConfigurator.ReceiveEndpoint")
                    x.AddConsumer<WorkConsumer>().Endpoint(e =>
                    {
                        e.Name = queue;
                        if (how == "AddConfigureEndpointCallback")
                            e.AddConfigureEndpointCallback((_, cfg) => Quorum(cfg));
                    });
                else
                    x.AddConsumer<WorkConsumer>().ExcludeFromConfigureEndpoints();
                x.UsingRabbitMq((context, cfg) =>
                {
                    cfg.Host(Broker.BusHost(), h =>
                    {
                        h.Username(ServiceEnvironment.RabbitUser);
                        h.Password(ServiceEnvironment.RabbitPassword);
                    });
                    if (how == "UseEventForwarding QuorumQueues")
                        cfg.UseEventForwarding(context, o => o.QuorumQueues = true);
                    cfg.UseAmbulanceLane(context, a =>
                    {
                        a.Urgent<Work>(m => m.Number == 1);
                        if (how == "AmbulanceConfigurator.ReceiveEndpoint")
                            a.ReceiveEndpoint(queue, e =>
                            {
                                Quorum(e);
                                e.ConfigureConsumer<WorkConsumer>(context);
                            });
                        else
                            a.Endpoint(queue);
                    });
                    cfg.ConfigureEndpoints(context);
                });
            })
            .BuildServiceProvider(true);
        var harness = provider.GetRequiredService<ITestHarness>();
        await harness.Start();
        try
        {
            Assert.Equal("quorum", await QueueTypeAsync(queue));
            Assert.Equal("quorum", await QueueTypeAsync(lane));

            Guid normal = NewId.NextGuid(), urgent = NewId.NextGuid();
            var endpoint = await harness.Bus.GetSendEndpoint(new Uri($"exchange:{queue}"));
            await endpoint.Send(new Work(0), ctx => ctx.MessageId = normal);
            await endpoint.Send(new Work(1), ctx => ctx.MessageId = urgent);
            await Eventually.True(() => seen.All.Count >= 2, TimeSpan.FromSeconds(15), "both messages consumed");
            Assert.Equal([(normal, queue), (urgent, lane)], seen.All.OrderBy(s => s.Id == urgent));

            var consumed = new ConsumedMessages();
            foreach (var (id, _) in seen.All)
                consumed.Record(id);
            await new MessageAccount()
                .Sent([normal, urgent])
                .Consumed(consumed, Expect.Ids([normal, urgent]))
                .Endpoint(queue, Expect.Empty)
                .Endpoint(lane, Expect.Empty)
                .AssertAllAccountedAsync(TimeSpan.FromSeconds(15));
        }
        finally
        {
            await harness.Stop();
            using var client = Management();
            foreach (var name in new[] { queue, lane, queue + "_skipped", queue + "_error", lane + "_error" })
                await client.DeleteAsync($"api/queues/%2F/{name}");
            foreach (var name in new[] { queue, lane, lane + ".urgent" })
                await client.DeleteAsync($"api/exchanges/%2F/{name}");
        }
    }

    static HttpClient Management()
    {
        var client = new HttpClient { BaseAddress = ServiceEnvironment.RabbitManagementUri, Timeout = TimeSpan.FromSeconds(10) };
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Basic",
            Convert.ToBase64String(Encoding.UTF8.GetBytes($"{ServiceEnvironment.RabbitUser}:{ServiceEnvironment.RabbitPassword}")));
        return client;
    }

    static async Task<string> QueueTypeAsync(string queue)
    {
        using var client = Management();
        var json = await client.GetFromJsonAsync<JsonElement>($"api/queues/%2F/{queue}");
        return json.GetProperty("type").GetString()!;
    }
}
