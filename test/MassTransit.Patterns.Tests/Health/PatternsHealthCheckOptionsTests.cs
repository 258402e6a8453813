using MassTransit.Patterns.Configuration;
using MassTransit.Patterns.Health;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace MassTransit.Patterns.Tests.Health;

public sealed class PatternsHealthCheckOptionsTests
{
    [Fact]
    public void Invalid_thresholds_fail_AddPatternsChecks_naming_each_option_and_its_value()
    {
        var failure = Assert.Throws<PatternOptionsException>(() => new ServiceCollection().AddHealthChecks().AddPatternsChecks(o =>
        {
            o.OutboxBacklogDegraded = 0;
            o.AwaitingPersonAgeDegraded = TimeSpan.FromHours(2);
            o.AwaitingPersonAgeUnhealthy = TimeSpan.FromMinutes(30);
            o.ReadTimeout = TimeSpan.FromSeconds(-1);
            o.ReadFailureStatus = HealthStatus.Healthy;
            o.Tags.Clear();
        }));

        Assert.Equal(nameof(PatternsHealthCheckOptions), failure.OptionsName);
        Assert.Contains("PatternsHealthCheckOptions.OutboxBacklogDegraded must be greater than zero (was 0)", failure.Message);
        Assert.Contains("PatternsHealthCheckOptions.AwaitingPersonAgeUnhealthy must not be below AwaitingPersonAgeDegraded (02:00:00) (was 00:30:00)", failure.Message);
        Assert.Contains("PatternsHealthCheckOptions.ReadTimeout must be greater than zero (was -00:00:01)", failure.Message);
        Assert.Contains("PatternsHealthCheckOptions.ReadFailureStatus must be Degraded or Unhealthy (was Healthy)", failure.Message);
        Assert.Contains("PatternsHealthCheckOptions.Tags must hold at least one tag", failure.Message);
        Assert.Equal(5, failure.Failures.Count);
    }

    [Fact]
    public async Task Without_the_components_every_check_is_healthy_and_says_it_did_not_check_and_the_tag_selects_all_five()
    {
        await using var rig = HealthRig.Build();

        var report = await rig.CheckTaggedAsync("patterns");

        Assert.Equal(
            [PatternsHealthCheckNames.Multibroker, PatternsHealthCheckNames.Outbox, PatternsHealthCheckNames.QueueDepth, PatternsHealthCheckNames.Watch,
                PatternsHealthCheckNames.Workflow],
            report.Entries.Keys.Order(StringComparer.Ordinal));
        foreach (var (name, entry) in report.Entries)
        {
            Assert.True(entry.Status == HealthStatus.Healthy, $"{name}: {entry.Status} {entry.Description}");
            Assert.Equal(false, entry.Data["checked"]);
            Assert.StartsWith("Not checked: ", entry.Description);
        }
        Assert.Equal("Not checked: IMultibroker (AddMultibroker) is not registered.", report.Entries[PatternsHealthCheckNames.Multibroker].Description);
    }

    [Fact]
    public async Task The_checks_carry_the_configured_tags()
    {
        await using var rig = HealthRig.Build(configure: o =>
        {
            o.Tags.Clear();
            o.Tags.Add("ready");
        });

        Assert.Equal(5, (await rig.CheckTaggedAsync("ready")).Entries.Count);
        Assert.Empty((await rig.CheckTaggedAsync("patterns")).Entries);
    }
}
