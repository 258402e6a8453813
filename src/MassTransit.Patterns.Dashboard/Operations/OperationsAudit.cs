using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace MassTransit.Patterns.Dashboard.Operations;

/// <summary>
/// The actions taken from the operations view: each is logged (event 9005, Information, with the actor) and the latest
/// <see cref="PatternsDashboardOptions.OperationsAuditSize"/> are kept to show on the pages. One per container.
/// </summary>
sealed class OperationsAudit(PatternsDashboardOptions options, TimeProvider? time = null, ILogger<OperationsAudit>? logger = null)
{
    readonly Lock _lock = new();
    readonly LinkedList<OperationsAuditEntry> _entries = new();
    readonly ILogger _logger = logger ?? (ILogger)NullLogger.Instance;
    readonly TimeProvider _time = time ?? TimeProvider.System;

    public OperationsAuditEntry Record(string actor, string page, string action, OperationsActionResult result)
    {
        var entry = new OperationsAuditEntry(_time.GetUtcNow(), actor, page, action, result.Target, result.Status, result.Outcome);
        DashboardLog.Operation(_logger, actor, page, action, result.Target ?? "", result.Status, result.Outcome);
        lock (_lock)
        {
            _entries.AddFirst(entry);
            while (_entries.Count > options.OperationsAuditSize)
                _entries.RemoveLast();
        }
        return entry;
    }

    /// <summary>The latest entries, newest first; of one page when <paramref name="page"/> is given.</summary>
    public IReadOnlyList<OperationsAuditEntry> Latest(string? page = null)
    {
        lock (_lock)
            return _entries.Where(e => page is null || e.Page == page).ToArray();
    }
}
