using System.Text.Json;

namespace MassTransit.Patterns.Dashboard.Operations;

/// <summary>
/// One pattern's page of the operations view. It reads the pattern's state from the running components themselves
/// (registries, stores, monitors resolved from the app's container), renders that state as the page's live part, and
/// may offer actions that change behaviour (behind <see cref="PatternsDashboardPolicies.Operate"/>, audited).
/// Pages are stateless: everything they show is read at each request.
/// </summary>
abstract class OperationsPage
{
    /// <summary>The page's path segment under <c>{prefix}/ops/</c> and its JSON under <c>{prefix}/api/ops/</c>, e.g. <c>supervisor</c>.</summary>
    public abstract string Slug { get; }

    /// <summary>The page's title and its label in the navigation.</summary>
    public abstract string Title { get; }

    /// <summary>True when the app uses the pattern (its components are registered); decided once, when the console is mapped.</summary>
    public abstract bool InUse(IServiceProvider services);

    /// <summary>The pattern's state now, read from its components (the page's JSON).</summary>
    public abstract Task<object> ReadAsync(IServiceProvider services, CancellationToken cancellationToken);

    /// <summary>Renders a state <see cref="ReadAsync"/> returned: the live part of the page, refreshed without a reload.</summary>
    public abstract void Render(DashboardHtml html, object state, OperationsRenderContext context);

    /// <summary>The names of the actions this page takes (none by default).</summary>
    public virtual IReadOnlyCollection<string> Actions => [];

    /// <summary>
    /// Takes <paramref name="action"/> (one of <see cref="Actions"/>) with the request's JSON body. Called only for a user
    /// who satisfies the operate policy, with a valid antiforgery token; the caller audits the result.
    /// </summary>
    public virtual Task<OperationsActionResult> ActAsync(string action, JsonElement body, IServiceProvider services, CancellationToken cancellationToken) =>
        Task.FromResult(OperationsActionResult.Invalid($"The page '{Slug}' has no action '{action}'."));
}
