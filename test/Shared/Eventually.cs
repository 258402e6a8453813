using System.Diagnostics;

namespace MassTransit.Patterns.Testing;

/// <summary>Waits on a condition with a deadline, instead of sleeping and hoping.</summary>
public static class Eventually
{
    /// <summary>Polls <paramref name="condition"/> until it holds; fails with <paramref name="because"/> at the deadline.</summary>
    public static Task True(Func<Task<bool>> condition, TimeSpan timeout, string because, TimeSpan? pollEvery = null) =>
        True(condition, timeout, () => because, pollEvery);

    /// <summary>Polls a synchronous condition.</summary>
    public static Task True(Func<bool> condition, TimeSpan timeout, string because, TimeSpan? pollEvery = null) =>
        True(() => Task.FromResult(condition()), timeout, () => because, pollEvery);

    /// <summary>
    /// Polls a synchronous condition; <paramref name="because"/> is read at the deadline, so that the values it shows
    /// (counts so far, states) are those the condition last saw, not those of the call.
    /// </summary>
    public static Task True(Func<bool> condition, TimeSpan timeout, Func<string> because, TimeSpan? pollEvery = null) =>
        True(() => Task.FromResult(condition()), timeout, because, pollEvery);

    /// <summary>Polls <paramref name="condition"/> until it holds; fails with <paramref name="because"/>, read at the deadline.</summary>
    public static async Task True(Func<Task<bool>> condition, TimeSpan timeout, Func<string> because, TimeSpan? pollEvery = null)
    {
        var watch = Stopwatch.StartNew();
        var interval = pollEvery ?? TimeSpan.FromMilliseconds(20);
        while (true)
        {
            if (await condition())
                return;
            if (watch.Elapsed > timeout)
                throw new TimeoutException($"Condition not met within {timeout}: {because()}");
            await Task.Delay(interval);
        }
    }
}
