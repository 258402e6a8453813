using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;

namespace MassTransit.Patterns.Dashboard;

/// <summary>
/// The running and recently finished bulk jobs of this process. A job acts on its messages one at a time, paced at
/// <see cref="PatternsDashboardOptions.BulkRatePerSecond"/>; cancelling stops it before its next message; disposing
/// (the app stopping) cancels every job.
/// </summary>
sealed class BulkJobs(PatternsDashboardOptions options, DashboardCommands commands, ILogger<BulkJobs> logger, TimeProvider? time = null) : IDisposable
{
    readonly ConcurrentDictionary<Guid, BulkJob> _jobs = new();
    readonly TimeProvider _time = time ?? TimeProvider.System;

    public BulkJob Start(string action, string actor, string? comment, IReadOnlyList<Guid> ids, bool truncated = false)
    {
        Prune();
        var job = new BulkJob(NewId.NextGuid(), action, actor, comment, ids, options.BulkRatePerSecond, _time.GetUtcNow(), truncated);
        _jobs[job.Id] = job;
        DashboardLog.BulkStarted(logger, action, job.Id, actor, ids.Count);
        _ = Task.Run(() => RunAsync(job));
        return job;
    }

    public BulkJob? Find(Guid id) => _jobs.TryGetValue(id, out var job) ? job : null;

    async Task RunAsync(BulkJob job)
    {
        var token = job.Cancellation.Token;
        var interval = TimeSpan.FromSeconds(1 / options.BulkRatePerSecond);
        var started = _time.GetTimestamp();
        try
        {
            for (var i = 0; i < job.Ids.Count; i++)
            {
                // Paced from the start: message i goes no earlier than i intervals after it, never in a burst.
                var wait = interval * i - _time.GetElapsedTime(started);
                if (wait > TimeSpan.Zero)
                    await Task.Delay(wait, _time, token).ConfigureAwait(false);
                token.ThrowIfCancellationRequested();
                var id = job.Ids[i];
                var result = job.Action == "discard"
                    ? await commands.DiscardAsync(id, job.Actor, job.Comment, token).ConfigureAwait(false)
                    : await commands.ResubmitAsync(id, job.Actor, job.Comment, token).ConfigureAwait(false);
                job.Record(id, result);
            }
            job.Finish("Completed", _time.GetUtcNow());
        }
        catch (OperationCanceledException) when (token.IsCancellationRequested)
        {
            job.Finish("Cancelled", _time.GetUtcNow());
        }
        catch (Exception e) when (e is not OperationCanceledException || !token.IsCancellationRequested)
        {
            // Whatever stops a job (the processor not answering, the bus stopping) ends it as Failed with the reason,
            // never leaves it Running.
            var status = job.Status();
            DashboardLog.BulkFailed(logger, e, job.Id, status.Done, status.Total);
            job.Finish("Failed", _time.GetUtcNow(), e.Message);
        }
        var final = job.Status();
        DashboardLog.BulkFinished(logger, job.Id, final.State, final.Done, final.Total, final.Succeeded, final.RefusedCount);
    }

    void Prune()
    {
        var now = _time.GetUtcNow();
        foreach (var (id, job) in _jobs)
            if (job.FinishedAt is { } at && now - at > options.BulkJobRetention)
                _jobs.TryRemove(id, out _);
    }

    public void Dispose()
    {
        foreach (var job in _jobs.Values)
            job.Cancellation.Cancel();
    }
}
