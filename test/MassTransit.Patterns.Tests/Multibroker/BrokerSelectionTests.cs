using MassTransit.Patterns.Multibroker;

namespace MassTransit.Patterns.Tests.Multibroker;

public class BrokerSelectionTests
{
    static readonly string[] Names = ["a", "b", "c"];

    static BrokerSelection Selection(MultibrokerStrategy strategy, params int[] weights) =>
        new(strategy, Names, weights.Length == 0 ? [1, 1, 1] : weights);

    static int[] Counts(BrokerSelection selection, bool[] inRotation, int messages, Func<int, string?>? key = null)
    {
        var counts = new int[Names.Length];
        for (var i = 0; i < messages; i++)
            counts[selection.Order(inRotation, key?.Invoke(i))[0]]++;
        return counts;
    }

    [Fact]
    public void Round_robin_gives_each_broker_in_rotation_an_equal_share_and_none_to_a_broker_out_of_rotation()
    {
        var selection = Selection(MultibrokerStrategy.RoundRobin);
        Assert.Equal([100, 100, 100], Counts(selection, [true, true, true], 300));
        Assert.Equal([150, 0, 150], Counts(selection, [true, false, true], 300));
    }

    [Fact]
    public void Weighted_matches_the_weights_in_every_window_of_their_sum_and_among_the_brokers_left()
    {
        var selection = Selection(MultibrokerStrategy.Weighted, 1, 2, 3);
        for (var window = 0; window < 10; window++)
            Assert.Equal([1, 2, 3], Counts(selection, [true, true, true], 6));
        Assert.Equal([100, 0, 300], Counts(Selection(MultibrokerStrategy.Weighted, 1, 2, 3), [true, false, true], 400));
    }

    [Fact]
    public void Brokers_out_of_rotation_come_last_as_a_last_resort_and_every_broker_appears_once()
    {
        foreach (var strategy in Enum.GetValues<MultibrokerStrategy>())
        {
            var selection = Selection(strategy);
            for (var i = 0; i < 30; i++)
            {
                var order = selection.Order([false, true, true], "k" + i);
                Assert.Equal([0, 1, 2], order.Order());
                Assert.Equal(0, order[2]);
            }
        }
    }

    [Fact]
    public void Key_hash_sends_a_key_to_one_broker_always_and_spreads_keys_evenly()
    {
        var selection = Selection(MultibrokerStrategy.KeyHash);
        var all = new[] { true, true, true };
        for (var k = 0; k < 100; k++)
        {
            var first = selection.Order(all, "customer-" + k);
            for (var again = 0; again < 5; again++)
                Assert.Equal(first, selection.Order(all, "customer-" + k));
        }
        // 30,000 keys: a uniform hash puts 10,000 ± 82 (one standard deviation) on each; 3% is over 3.5 of them.
        var counts = Counts(selection, all, 30_000, i => "customer-" + i);
        Assert.All(counts, c => Assert.InRange(c, 9_700, 10_300));
    }

    [Fact]
    public void Key_hash_moves_only_the_keys_of_a_broker_that_leaves_each_to_its_own_next_choice_and_returns_them_when_it_rejoins()
    {
        var selection = Selection(MultibrokerStrategy.KeyHash);
        var keys = Enumerable.Range(0, 3_000).Select(i => "order-" + i).ToArray();
        var before = keys.ToDictionary(k => k, k => selection.Order([true, true, true], k));
        var during = keys.ToDictionary(k => k, k => selection.Order([true, false, true], k)[0]);
        var after = keys.ToDictionary(k => k, k => selection.Order([true, true, true], k)[0]);

        foreach (var key in keys)
        {
            if (before[key][0] == 1)
                Assert.Equal(before[key][1], during[key]);   // moved to its second choice
            else
                Assert.Equal(before[key][0], during[key]);   // did not move
            Assert.Equal(before[key][0], after[key]);
        }
        var moved = keys.Count(k => before[k][0] != during[k]);
        Assert.Equal(keys.Count(k => before[k][0] == 1), moved);
        // The moved keys spread over both remaining brokers, not onto one.
        var movedTo = keys.Where(k => before[k][0] == 1).GroupBy(k => during[k]).ToDictionary(g => g.Key, g => g.Count());
        Assert.All(movedTo.Values, c => Assert.InRange(c, moved * 0.4, moved * 0.6));
    }

    [Fact]
    public void Key_hash_weights_shift_the_share_of_keys_in_proportion()
    {
        var counts = Counts(Selection(MultibrokerStrategy.KeyHash, 1, 1, 2), [true, true, true], 40_000, i => "k" + i);
        Assert.InRange(counts[0], 9_500, 10_500);
        Assert.InRange(counts[1], 9_500, 10_500);
        Assert.InRange(counts[2], 19_500, 20_500);
    }

    [Fact]
    public void Key_hash_without_a_key_falls_back_to_round_robin()
    {
        Assert.Equal([20, 20, 20], Counts(Selection(MultibrokerStrategy.KeyHash), [true, true, true], 60));
    }

    [Fact]
    public void The_rendezvous_pick_is_the_same_for_equal_inputs_in_every_process()
    {
        // Fixed values: the hash must not depend on string.GetHashCode (randomized per process).
        var brokers = new[] { ("a", 1), ("b", 1), ("c", 1) };
        var picks = Enumerable.Range(0, 8).Select(i => RendezvousHash.Pick("key-" + i, brokers)).ToArray();
        Assert.Equal(picks, Enumerable.Range(0, 8).Select(i => RendezvousHash.Pick("key-" + i, brokers)).ToArray());
        Assert.Equal(RendezvousHash.Score("k", "a", 1), RendezvousHash.Score("k", "a", 1));
        Assert.NotEqual(RendezvousHash.Score("k", "a", 1), RendezvousHash.Score("k", "b", 1));
    }
}
