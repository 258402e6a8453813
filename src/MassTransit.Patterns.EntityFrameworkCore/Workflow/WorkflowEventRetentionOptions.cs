using MassTransit.Patterns.Configuration;

namespace MassTransit.Patterns.EntityFrameworkCore.Workflow;

/// <summary>How long resolved workflow rows (Completed, Discarded) are kept before the retention service removes them.</summary>
public sealed class WorkflowEventRetentionOptions : IPatternOptions
{
    /// <summary>How long a row is kept after it was resolved, for its audit trail. Default 30 days.</summary>
    public TimeSpan Retention { get; set; } = TimeSpan.FromDays(30);

    /// <summary>How often the service looks for rows past their retention. Default 1 hour.</summary>
    public TimeSpan Interval { get; set; } = TimeSpan.FromHours(1);

    /// <summary>Rows removed per statement. Default 500.</summary>
    public int BatchSize { get; set; } = 500;

    /// <inheritdoc />
    public void Validate(OptionsValidator validator) =>
        validator.Positive(Retention, nameof(Retention))
            .Positive(Interval, nameof(Interval))
            .Positive(BatchSize, nameof(BatchSize));
}
