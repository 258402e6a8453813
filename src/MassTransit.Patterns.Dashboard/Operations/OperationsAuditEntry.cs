namespace MassTransit.Patterns.Dashboard.Operations;

/// <summary>One action taken from the operations view.</summary>
/// <param name="At">When.</param>
/// <param name="Actor">Who (the signed-in user, or <see cref="PatternsDashboardOptions.ActorWhenAnonymous"/>).</param>
/// <param name="Page">The page's slug.</param>
/// <param name="Action">The action.</param>
/// <param name="Target">What it acted on.</param>
/// <param name="Status">The HTTP status of the outcome.</param>
/// <param name="Outcome">What happened.</param>
sealed record OperationsAuditEntry(DateTimeOffset At, string Actor, string Page, string Action, string? Target, int Status, string Outcome);
