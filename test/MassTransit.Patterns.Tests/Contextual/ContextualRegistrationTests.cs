using MassTransit.Patterns.Contextual;
using MassTransit.Patterns.Tests.Contextual.Messages;
using MassTransit.Testing;
using Microsoft.Extensions.DependencyInjection;

namespace MassTransit.Patterns.Tests.Contextual;

/// <summary>The routing users read comes from DI: UseContextualQueues without AddContextualQueues, or twice for one type, fails start-up saying what to do.</summary>
public sealed class ContextualRegistrationTests
{
    static async Task<Exception> StartAsync(bool register, int uses)
    {
        var queue = $"ctx-reg-{Guid.NewGuid():N}"[..17];
        await using var provider = new ServiceCollection()
            .AddSingleton<OrderRecorder>()
            .AddMassTransitTestHarness(x =>
            {
                if (register)
                    x.AddContextualQueues<CustomerOrder>();
                x.AddConsumer<CustomerOrderConsumer>().ExcludeFromConfigureEndpoints();
                x.UsingInMemory((context, cfg) =>
                {
                    for (var i = 0; i < uses; i++)
                        cfg.UseContextualQueues<CustomerOrder>(context, q => q.DefaultQueue($"{queue}-{i}").Context(m => m.Customer)
                            .Endpoint(e => e.ConfigureConsumer<CustomerOrderConsumer>(context)));
                    cfg.ConfigureEndpoints(context);
                });
            })
            .BuildServiceProvider(true);
        return await Assert.ThrowsAnyAsync<Exception>(() => provider.GetRequiredService<ITestHarness>().Start());
    }

    [Fact]
    public async Task UseContextualQueues_without_AddContextualQueues_fails_start_up_naming_the_registration()
    {
        var error = await StartAsync(register: false, uses: 1);
        Assert.Contains("AddContextualQueues<CustomerOrder>()", error.ToString());
    }

    [Fact]
    public async Task UseContextualQueues_twice_for_one_type_fails_start_up()
    {
        var error = await StartAsync(register: true, uses: 2);
        Assert.Contains("UseContextualQueues<CustomerOrder>", error.ToString());
        Assert.Contains("was called twice", error.ToString());
    }

    [Fact]
    public async Task The_registered_routing_is_the_one_the_bus_configured()
    {
        var queue = $"ctx-reg-{Guid.NewGuid():N}"[..17];
        await using var h = await ContextualHarness.StartAsync(queue, _ => { });
        var routing = h.Provider.GetRequiredService<ContextualRouting<CustomerOrder>>();
        Assert.True(routing.IsConfigured);
        Assert.Equal(queue, routing.Options.DefaultQueueName);
        await h.Send("a", 1);
        await h.ConsumedAll(1);
        Assert.Equal(queue, h.Recorder.Seen.Single().Queue);
        Assert.True(await routing.WaitForQueueAsync("a", ContextualHarness.Timeout), "a got its queue, seen through the routing from DI");
    }
}
