using MassTransit.Patterns.Ambulance;
using MassTransit.Testing;
using Microsoft.Extensions.DependencyInjection;

namespace MassTransit.Patterns.Tests.Ambulance;

/// <summary>A bad lane configuration fails the bus start with a message naming the option.</summary>
public sealed class AmbulanceConfigurationTests
{
    static async Task<ConfigurationException> StartFails(Action<AmbulanceConfigurator> configure)
    {
        var failure = await Assert.ThrowsAnyAsync<ConfigurationException>(async () =>
        {
            var (provider, _, _) = await AmbulanceHarness.StartAsync(configure);
            await provider.DisposeAsync();
        });
        return failure;
    }

    [Fact]
    public async Task An_empty_suffix_fails_the_start_naming_the_suffix()
    {
        var failure = await StartFails(a => a.Endpoint(AmbulanceHarness.Queue, lane => lane.Suffix = ""));

        Assert.Contains($"AmbulanceLaneOptions[{AmbulanceHarness.Queue}].Suffix", failure.Message);
        Assert.Contains("must not be empty", failure.Message);
    }

    [Fact]
    public async Task A_lane_concurrency_of_zero_fails_the_start_naming_it()
    {
        var failure = await StartFails(a => a.Endpoint(AmbulanceHarness.Queue, lane => lane.ConcurrentMessageLimit = 0));

        Assert.Contains($"AmbulanceLaneOptions[{AmbulanceHarness.Queue}].ConcurrentMessageLimit", failure.Message);
        Assert.Contains("must be greater than zero (was 0)", failure.Message);
    }

    [Fact]
    public async Task A_lane_named_like_its_queue_fails_the_start_naming_it()
    {
        var failure = await StartFails(a => a.Endpoint(AmbulanceHarness.Queue, lane => lane.LaneQueueName = AmbulanceHarness.Queue));

        Assert.Contains($"AmbulanceLaneOptions[{AmbulanceHarness.Queue}].LaneQueueName", failure.Message);
        Assert.Contains("must differ from the queue", failure.Message);
    }

    [Fact]
    public async Task A_lane_beside_an_endpoint_with_no_consumer_fails_the_start_naming_it()
    {
        var failure = await StartFails(a => a.Endpoint("no-such-endpoint"));

        Assert.Contains("AmbulanceConfigurator.Endpoint(\"no-such-endpoint\")", failure.Message);
    }

    [Fact]
    public async Task Configuring_the_lane_after_ConfigureEndpoints_fails_the_start_saying_so()
    {
        await using var provider = new ServiceCollection()
            .AddMetrics()
            .AddSingleton(new Recorder())
            .AddMassTransitTestHarness(x =>
            {
                x.AddConsumer<JobConsumer>().Endpoint(e => e.Name = AmbulanceHarness.Queue);
                x.UsingInMemory((context, cfg) =>
                {
                    cfg.ConfigureEndpoints(context);
                    cfg.UseAmbulanceLane(context, a => a.Endpoint(AmbulanceHarness.Queue));
                });
            })
            .BuildServiceProvider(true);

        var failure = await Assert.ThrowsAnyAsync<ConfigurationException>(() => provider.GetRequiredService<ITestHarness>().Start());

        Assert.Contains($"AmbulanceLaneOptions[{AmbulanceHarness.Queue}].QueueName", failure.Message);
        Assert.Contains("call UseAmbulanceLane before ConfigureEndpoints", failure.Message);
    }

    [Fact]
    public void The_options_validator_names_every_bad_option()
    {
        var options = new AmbulanceLaneOptions { QueueName = "orders", Suffix = " ", ConcurrentMessageLimit = 2, PrefetchCount = 1, UrgentWeight = 0 };

        var failures = options.CreateValidatorForTest();

        Assert.Equal(
            ["AmbulanceLaneOptions.Suffix", "AmbulanceLaneOptions.LaneQueueName", "AmbulanceLaneOptions.PrefetchCount", "AmbulanceLaneOptions.UrgentWeight"],
            failures);
    }
}

static class OptionsTestExtensions
{
    public static string[] CreateValidatorForTest(this AmbulanceLaneOptions options) =>
        Patterns.Configuration.PatternOptionsExtensions.CreateValidator(options).Failures.Select(f => f.Option).ToArray();
}
