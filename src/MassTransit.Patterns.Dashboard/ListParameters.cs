using MassTransit.Patterns.Workflow;
using Microsoft.AspNetCore.Mvc;

namespace MassTransit.Patterns.Dashboard;

/// <summary>The query string of a list, a groups count or a page: filters, free text, order and page.</summary>
sealed class ListParameters
{
    /// <summary>Only this state (e.g. AwaitingPerson).</summary>
    [FromQuery(Name = "state")]
    public string? State { get; set; }

    /// <summary>Only this message type URN.</summary>
    [FromQuery(Name = "messageType")]
    public string? MessageType { get; set; }

    /// <summary>Only this exception type (full name).</summary>
    [FromQuery(Name = "exceptionType")]
    public string? ExceptionType { get; set; }

    /// <summary>Only this source queue address.</summary>
    [FromQuery(Name = "source")]
    public string? Source { get; set; }

    /// <summary>First received at or after (ISO 8601; without an offset: UTC).</summary>
    [FromQuery(Name = "from")]
    public string? From { get; set; }

    /// <summary>First received before (ISO 8601; without an offset: UTC).</summary>
    [FromQuery(Name = "to")]
    public string? To { get; set; }

    /// <summary>Text the body or the exception message contains.</summary>
    [FromQuery(Name = "q")]
    public string? Q { get; set; }

    /// <summary>ReceivedAt (default), UpdatedAt, State, MessageType, ExceptionType, SourceAddress, Failures.</summary>
    [FromQuery(Name = "sort")]
    public string? Sort { get; set; }

    /// <summary>Newest (largest) first; default true.</summary>
    [FromQuery(Name = "desc")]
    public bool? Desc { get; set; }

    /// <summary>The page, from 1.</summary>
    [FromQuery(Name = "page")]
    public int? Page { get; set; }

    /// <summary>Messages per page, 1-500 (default 50).</summary>
    [FromQuery(Name = "pageSize")]
    public int? PageSize { get; set; }

    /// <summary>Groups: exception (exception and message type, default) or source (source queue).</summary>
    [FromQuery(Name = "by")]
    public string? By { get; set; }

    /// <summary>The filter, or the reason the parameters are invalid.</summary>
    public (WorkflowMessageFilter? Filter, string? Error) ToFilter()
    {
        if (!TryTime(From, out var from))
            return (null, $"from: '{From}' is not a date and time (ISO 8601, e.g. 2026-12-05T08:00:00Z).");
        if (!TryTime(To, out var to))
            return (null, $"to: '{To}' is not a date and time (ISO 8601, e.g. 2026-12-05T08:00:00Z).");
        return (new WorkflowMessageFilter
        {
            State = Value(State),
            MessageType = Value(MessageType),
            ExceptionType = Value(ExceptionType),
            SourceAddress = Value(Source),
            From = from,
            To = to,
            Search = Value(Q)
        }, null);
    }

    /// <summary>The query, or the reason the parameters are invalid.</summary>
    public (WorkflowMessageQuery? Query, string? Error) ToQuery()
    {
        var (filter, error) = ToFilter();
        if (filter is null)
            return (null, error);
        var sort = WorkflowMessageSort.ReceivedAt;
        if (Value(Sort) is { } s && !Enum.TryParse(s, true, out sort))
            return (null, $"sort: '{Sort}' is not one of {string.Join(", ", Enum.GetNames<WorkflowMessageSort>())}.");
        if (PageSize is < 1 or > 500)
            return (null, $"pageSize: must be between 1 and 500 (was {PageSize}).");
        if (Page is < 1)
            return (null, $"page: must be 1 or more (was {Page}).");
        return (new WorkflowMessageQuery
        {
            Filter = filter,
            Sort = sort,
            Descending = Desc ?? true,
            Page = Page ?? 1,
            PageSize = PageSize ?? 50
        }, null);
    }

    /// <summary>The grouping, or null when <see cref="By"/> is not one.</summary>
    public WorkflowGrouping? Grouping() => Value(By)?.ToLowerInvariant() switch
    {
        null or "exception" => WorkflowGrouping.ExceptionAndMessageType,
        "source" => WorkflowGrouping.SourceQueue,
        _ => null
    };

    static string? Value(string? text) => string.IsNullOrWhiteSpace(text) ? null : text.Trim();

    static bool TryTime(string? text, out DateTimeOffset? value)
    {
        value = null;
        if (Value(text) is not { } t)
            return true;
        if (!DateTimeOffset.TryParse(t, System.Globalization.CultureInfo.InvariantCulture,
                System.Globalization.DateTimeStyles.AssumeUniversal | System.Globalization.DateTimeStyles.AdjustToUniversal, out var parsed))
            return false;
        value = parsed;
        return true;
    }
}
