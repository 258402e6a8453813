using MassTransit.Patterns.Workflow;

namespace MassTransit.Patterns.Dashboard;

/// <summary>One bulk retry or discard: the ids fixed when it starts, acted on one at a time at the configured rate.</summary>
sealed class BulkJob(Guid id, string action, string actor, string? comment, IReadOnlyList<Guid> ids, double rate, DateTimeOffset startedAt,
    bool truncated)
{
    const int RefusalsKept = 1000;

    readonly Lock _gate = new();
    readonly List<BulkRefusal> _refused = [];
    int _done;
    int _succeeded;
    int _refusedCount;
    string _state = "Running";
    DateTimeOffset? _finishedAt;
    string? _error;

    public Guid Id { get; } = id;

    public string Action { get; } = action;

    public string Actor { get; } = actor;

    public string? Comment { get; } = comment;

    public IReadOnlyList<Guid> Ids { get; } = ids;

    public CancellationTokenSource Cancellation { get; } = new();

    public bool Finished
    {
        get
        {
            lock (_gate)
                return _finishedAt is not null;
        }
    }

    public DateTimeOffset? FinishedAt
    {
        get
        {
            lock (_gate)
                return _finishedAt;
        }
    }

    public void Record(Guid id, WorkflowCommandResult result)
    {
        lock (_gate)
        {
            _done++;
            if (result.Accepted)
                _succeeded++;
            else
            {
                _refusedCount++;
                if (_refused.Count < RefusalsKept)
                    _refused.Add(new BulkRefusal(id, result.Refusal.ToString(), result.Reason));
            }
        }
    }

    public void Finish(string state, DateTimeOffset at, string? error = null)
    {
        lock (_gate)
        {
            _state = state;
            _finishedAt = at;
            _error = error;
        }
    }

    public BulkJobStatus Status()
    {
        lock (_gate)
            return new BulkJobStatus
            {
                JobId = Id,
                Action = Action,
                State = _state,
                Actor = Actor,
                Total = Ids.Count,
                Truncated = truncated,
                Done = _done,
                Succeeded = _succeeded,
                RefusedCount = _refusedCount,
                Refused = [.. _refused],
                RatePerSecond = rate,
                StartedAt = startedAt,
                FinishedAt = _finishedAt,
                Error = _error
            };
    }
}
