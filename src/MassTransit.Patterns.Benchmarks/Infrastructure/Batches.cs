namespace MassTransit.Patterns.Benchmarks.Infrastructure;

/// <summary>Sends a run's messages with a bounded number in flight: fast, without an unbounded pile of pending tasks.</summary>
public static class Batches
{
    /// <summary>Calls <paramref name="send"/> for 0..count-1 in order, awaiting each batch of <paramref name="inFlight"/> before the next.</summary>
    public static async Task SendAsync(int count, Func<int, Task> send, int inFlight = 256)
    {
        var batch = new List<Task>(inFlight);
        for (var i = 0; i < count; i++)
        {
            batch.Add(send(i));
            if (batch.Count == inFlight)
            {
                await Task.WhenAll(batch);
                batch.Clear();
            }
        }
        await Task.WhenAll(batch);
    }
}
