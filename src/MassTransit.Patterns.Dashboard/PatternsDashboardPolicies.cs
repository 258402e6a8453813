namespace MassTransit.Patterns.Dashboard;

/// <summary>
/// The authorization policy (its name, as registered with <c>AddAuthorization</c>) each kind of action of the repair
/// console requires, on top of what the mounted group requires. Null: no extra requirement. The API enforces them
/// (403 for a signed-in user who does not satisfy one); the pages only leave out the controls a user may not use.
/// </summary>
public sealed class PatternsDashboardPolicies
{
    /// <summary>Reading: the pages, lists, groups, counts, one message, bulk job status, the OpenAPI document.</summary>
    public string? View { get; set; }

    /// <summary>Editing a message's body.</summary>
    public string? Edit { get; set; }

    /// <summary>Resubmitting a message (one, or a selection or group: bulk retry).</summary>
    public string? Resubmit { get; set; }

    /// <summary>Discarding a message (one, or a selection or group: bulk discard) and restoring a discarded one.</summary>
    public string? Discard { get; set; }

    /// <summary>
    /// Actions of the operations view that change how a pattern behaves (release a held key, force a broker out of rotation
    /// or back in). Each is audited. Null: no extra requirement beyond the group's; an app should set one.
    /// </summary>
    public string? Operate { get; set; }
}
