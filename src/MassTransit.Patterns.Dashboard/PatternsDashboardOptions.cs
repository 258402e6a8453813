using MassTransit.Patterns.Configuration;

namespace MassTransit.Patterns.Dashboard;

/// <summary>Options of the repair console (<c>services.AddPatternsDashboard(o =&gt; ...)</c>); validated at start-up.</summary>
public sealed class PatternsDashboardOptions
{
    /// <summary>The policy each kind of action requires (null: none beyond the group's).</summary>
    public PatternsDashboardPolicies Policies { get; } = new();

    /// <summary>
    /// Header names whose values are never shown (pages and API), compared ignoring case. An entry with <c>*</c> at
    /// either end matches by contains / ends with / starts with (<c>*token*</c>: any name containing "token").
    /// Applied to the transport headers and to the headers inside a MassTransit envelope body. Default: Authorization,
    /// Proxy-Authorization, Cookie, Set-Cookie and any name containing password, secret, token or apikey / api-key.
    /// </summary>
    public IList<string> RedactedHeaders { get; } =
        ["Authorization", "Proxy-Authorization", "Cookie", "Set-Cookie", "*password*", "*secret*", "*token*", "*apikey*", "*api-key*"];

    /// <summary>The largest body an edit may set, in UTF-8 bytes (larger: 413). Default 256 KiB.</summary>
    public int MaxBodyBytes { get; set; } = 256 * 1024;

    /// <summary>
    /// The actor recorded for changes when authentication is off (the app registers no authentication scheme), e.g.
    /// <c>"operator"</c>. Null (default): with authentication off every change is refused (401), since nobody could be
    /// named in the audit. Never used when the app has authentication: an anonymous request is then refused (401).
    /// </summary>
    public string? ActorWhenAnonymous { get; set; }

    /// <summary>Messages a bulk retry or discard acts on per second (never all at once). Default 20.</summary>
    public double BulkRatePerSecond { get; set; } = 20;

    /// <summary>The most messages one bulk action may cover (a larger selection is refused; a group is cut there). Default 10,000.</summary>
    public int MaxBulkSize { get; set; } = 10_000;

    /// <summary>How often the landing page refreshes its counts per state. Default 5 seconds.</summary>
    public TimeSpan LiveRefreshInterval { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>How often an operations page refreshes its live part (without a full reload). Default 2 seconds.</summary>
    public TimeSpan OperationsRefreshInterval { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>How many of the latest operations actions the pages show (all are logged). Default 200.</summary>
    public int OperationsAuditSize { get; set; } = 200;

    /// <summary>How long a finished bulk job's status stays readable. Default 1 hour.</summary>
    public TimeSpan BulkJobRetention { get; set; } = TimeSpan.FromHours(1);

    /// <summary>Checks every option; throws <see cref="PatternOptionsException"/> naming each bad one and its value.</summary>
    public void EnsureValid()
    {
        var v = new OptionsValidator(nameof(PatternsDashboardOptions));
        v.InRange(MaxBodyBytes, 1, 64L * 1024 * 1024, nameof(MaxBodyBytes));
        v.Require(ActorWhenAnonymous is null || !string.IsNullOrWhiteSpace(ActorWhenAnonymous), nameof(ActorWhenAnonymous),
            $"must be null (refuse anonymous changes) or a name (was '{ActorWhenAnonymous}').");
        v.Require(BulkRatePerSecond is > 0 and <= 10_000 && double.IsFinite(BulkRatePerSecond), nameof(BulkRatePerSecond),
            $"must be greater than zero and at most 10000 (was {BulkRatePerSecond}).");
        v.InRange(MaxBulkSize, 1, 1_000_000, nameof(MaxBulkSize));
        v.Require(LiveRefreshInterval >= TimeSpan.FromMilliseconds(100) && LiveRefreshInterval <= TimeSpan.FromHours(1), nameof(LiveRefreshInterval),
            $"must be between 100 ms and 1 hour (was {LiveRefreshInterval}).");
        v.Positive(BulkJobRetention, nameof(BulkJobRetention));
        v.Require(OperationsRefreshInterval >= TimeSpan.FromMilliseconds(100) && OperationsRefreshInterval <= TimeSpan.FromHours(1), nameof(OperationsRefreshInterval),
            $"must be between 100 ms and 1 hour (was {OperationsRefreshInterval}).");
        v.InRange(OperationsAuditSize, 1, 100_000, nameof(OperationsAuditSize));
        foreach (var (name, policy) in new[] { ("View", Policies.View), ("Edit", Policies.Edit), ("Resubmit", Policies.Resubmit), ("Discard", Policies.Discard), ("Operate", Policies.Operate) })
            v.Require(policy is null || !string.IsNullOrWhiteSpace(policy), "Policies." + name, $"must be null (no extra requirement) or a policy name (was '{policy}').");
        foreach (var header in RedactedHeaders)
            v.Require(!string.IsNullOrWhiteSpace(header) && header.Trim('*').Length > 0, nameof(RedactedHeaders), $"entries must be header names or patterns (was '{header}').");
        v.ThrowIfInvalid();
    }
}
