using MassTransit.Patterns.Supervisor;

namespace MassTransit.Patterns.Tests.Supervisor;

/// <summary>The decision rule alone: clamp, up at once or by a step, down only after a whole cool-down, no flapping.</summary>
public sealed class SupervisorPolicyTests
{
    static readonly DateTimeOffset T0 = new(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);
    static readonly ScalingRules Rules = new(Min: 2, Max: 20, MessagesPerConsumer: 10, ScaleUpStep: null, ScaleDownCooldown: TimeSpan.FromSeconds(30), ScaleDownHysteresis: 0.2);

    [Theory]
    [InlineData(0, 2)]
    [InlineData(15, 2)]
    [InlineData(21, 3)]
    [InlineData(200, 20)]
    [InlineData(1_000_000, 20)]
    public void Wanted_is_depth_over_messages_per_consumer_clamped_to_the_bounds(long depth, int expected) =>
        Assert.Equal(expected, SupervisorPolicy.Wanted(depth, Rules));

    [Fact]
    public void A_burst_scales_up_to_max_at_once_and_never_above_it()
    {
        var decision = SupervisorPolicy.Decide(new ScalingState(2), 5_000, T0, Rules);

        Assert.Equal(ScalingDirection.Up, decision.Direction);
        Assert.Equal(20, decision.State.Level);
    }

    [Fact]
    public void A_scale_up_step_bounds_each_rise()
    {
        var rules = Rules with { ScaleUpStep = 4 };
        var state = new ScalingState(2);
        var levels = new List<int>();
        for (var i = 0; i < 6; i++)
        {
            state = SupervisorPolicy.Decide(state, 5_000, T0.AddSeconds(i), rules).State;
            levels.Add(state.Level);
        }

        Assert.Equal([6, 10, 14, 18, 20, 20], levels);
    }

    [Fact]
    public void Scale_down_waits_for_a_whole_cool_down_of_lower_readings_and_takes_the_highest_level_wanted_in_the_last_one()
    {
        var state = new ScalingState(20);
        state = SupervisorPolicy.Decide(state, 0, T0, Rules).State;
        Assert.Equal(20, state.Level);
        state = SupervisorPolicy.Decide(state, 60, T0.AddSeconds(10), Rules).State; // wants ceil(72/10) = 8 with headroom
        state = SupervisorPolicy.Decide(state, 0, T0.AddSeconds(29), Rules).State;
        Assert.Equal(20, state.Level);

        var decision = SupervisorPolicy.Decide(state, 0, T0.AddSeconds(30), Rules);

        Assert.Equal(ScalingDirection.Down, decision.Direction);
        Assert.Equal(8, decision.State.Level);
        // Further down as soon as the reading that wanted 8 is older than the cool-down, not a whole cool-down later.
        state = SupervisorPolicy.Decide(decision.State, 0, T0.AddSeconds(39), Rules).State;
        Assert.Equal(8, state.Level);
        Assert.Equal(2, SupervisorPolicy.Decide(state, 0, T0.AddSeconds(40), Rules).State.Level);
    }

    [Fact]
    public void The_window_maximum_is_of_the_last_cool_down_only()
    {
        // A queue that drains: each reading wants less. After one cool-down of lower readings the level
        // follows the highest of the last cool-down, one poll behind, down to the minimum.
        var rules = Rules with { ScaleDownCooldown = TimeSpan.FromSeconds(3) };
        var state = new ScalingState(20);
        var levels = new List<int>();
        long[] depths = [150, 120, 90, 60, 30, 0, 0, 0, 0];
        for (var i = 0; i < depths.Length; i++)
        {
            state = SupervisorPolicy.Decide(state, depths[i], T0.AddSeconds(i), rules).State;
            levels.Add(state.Level);
        }

        // Wanted with 20% headroom: 18, 15, 11, 8, 4, 2, ...
        Assert.Equal([20, 20, 20, 15, 11, 8, 4, 2, 2], levels);
    }

    [Fact]
    public void A_reading_that_wants_the_current_level_again_restarts_the_cool_down()
    {
        var state = SupervisorPolicy.Decide(new ScalingState(20), 0, T0, Rules).State;
        state = SupervisorPolicy.Decide(state, 200, T0.AddSeconds(20), Rules).State;
        state = SupervisorPolicy.Decide(state, 0, T0.AddSeconds(25), Rules).State;

        Assert.Equal(20, SupervisorPolicy.Decide(state, 0, T0.AddSeconds(40), Rules).State.Level);
        Assert.Equal(2, SupervisorPolicy.Decide(state, 0, T0.AddSeconds(55), Rules).State.Level);
    }

    [Fact]
    public void A_depth_oscillating_around_a_threshold_does_not_flap()
    {
        // Around 50 messages: 5 consumers wanted, sometimes 6. Up is immediate, down needs 30 s of lower readings.
        var state = new ScalingState(5);
        var changes = 0;
        for (var second = 0; second < 600; second++)
        {
            var depth = second % 2 == 0 ? 48 : 53;
            var decision = SupervisorPolicy.Decide(state, depth, T0.AddSeconds(second), Rules);
            if (decision.State.Level != state.Level)
                changes++;
            state = decision.State;
        }

        Assert.Equal(6, state.Level);
        Assert.Equal(1, changes);
    }

    [Fact]
    public void Hysteresis_keeps_the_level_when_the_depth_just_fits_a_lower_one()
    {
        // 6 consumers for 55 messages; 50 messages would fit 5, but not with 20% headroom (60 > 50).
        var rules = Rules with { ScaleDownCooldown = TimeSpan.Zero };

        Assert.Equal(6, SupervisorPolicy.Decide(new ScalingState(6), 50, T0, rules).State.Level);
        Assert.Equal(5, SupervisorPolicy.Decide(new ScalingState(6), 41, T0, rules).State.Level);
        Assert.Equal(5, SupervisorPolicy.Decide(new ScalingState(6), 50, T0, rules with { ScaleDownHysteresis = 0 }).State.Level);
    }

    [Fact]
    public void Fleet_rules_multiply_the_bounds_and_the_step_by_the_instances()
    {
        var fleet = (Rules with { ScaleUpStep = 3 }).ForFleet(3);

        Assert.Equal((6, 60, 9), (fleet.Min, fleet.Max, fleet.ScaleUpStep!.Value));
        Assert.Equal(10, fleet.MessagesPerConsumer);
    }
}
