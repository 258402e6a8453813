using System.Diagnostics;

namespace MassTransit.Patterns.Showcase.Infrastructure;

/// <summary>Prints how far a long piece of work has got, at most twice a second, on one line.</summary>
public sealed class Progress : IAsyncDisposable
{
    readonly string _label;
    readonly long _total;
    readonly Func<long> _done;
    readonly CancellationTokenSource _stop = new();
    readonly Task _loop;
    readonly Stopwatch _watch = Stopwatch.StartNew();

    public Progress(string label, long total, Func<long> done)
    {
        _label = label;
        _total = total;
        _done = done;
        _loop = Task.Run(LoopAsync);
    }

    async Task LoopAsync()
    {
        try
        {
            while (!_stop.IsCancellationRequested)
            {
                Print();
                await Task.Delay(500, _stop.Token);
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    void Print()
    {
        var done = _done();
        var percent = _total == 0 ? 100 : 100.0 * done / _total;
        var line = $"  {_label}: {done:N0}/{_total:N0} ({percent:0}%) {_watch.Elapsed.TotalSeconds:0.0}s";
        if (Console.IsOutputRedirected)
            Console.WriteLine(line);
        else
            Console.Write("\r" + line.PadRight(Math.Max(line.Length, Console.WindowWidth - 1)));
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        await _loop;
        Print();
        if (!Console.IsOutputRedirected)
            Console.WriteLine();
        _stop.Dispose();
    }
}
