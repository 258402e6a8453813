using MassTransit.Patterns.Dashboard;
using MassTransit.Patterns.Dashboard.Operations;
using MassTransit.Patterns.Workflow;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace MassTransit;

/// <summary>Mounts the console in an ASP.NET Core app: the repair console of the workflow event pattern and the operations view of every pattern in use.</summary>
public static class PatternsDashboardExtensions
{
    /// <summary>
    /// Registers the console: its options (validated here: a bad one throws naming it and its value), authorization,
    /// antiforgery, the operations audit and its OpenAPI document. For the repair console the app also registers the
    /// workflow processor (<c>x.AddWorkflowEventProcessor()</c>, which registers <see cref="WorkflowEventClient"/>) and a
    /// workflow store (<see cref="IWorkflowMessageStore"/>); <see cref="MapPatternsDashboard"/> checks both.
    /// </summary>
    public static IServiceCollection AddPatternsDashboard(this IServiceCollection services, Action<PatternsDashboardOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(services);
        var options = new PatternsDashboardOptions();
        configure?.Invoke(options);
        options.EnsureValid();
        services.TryAddSingleton(options);
        services.TryAddSingleton<DashboardRedaction>();
        services.TryAddSingleton<DashboardAccess>();
        services.TryAddSingleton<DashboardCommands>();
        services.TryAddSingleton<BulkJobs>();
        services.TryAddSingleton(sp => new OperationsAudit(sp.GetRequiredService<PatternsDashboardOptions>(), sp.GetService<TimeProvider>(),
            sp.GetService<Microsoft.Extensions.Logging.ILogger<OperationsAudit>>()));
        services.AddAuthorization();
        services.AddAntiforgery();
        services.AddOpenApi(DashboardApi.DocumentName, o => o.ShouldInclude = d => d.GroupName == DashboardApi.DocumentName);
        return services;
    }

    /// <summary>
    /// Maps the console's pages and its JSON API under <paramref name="prefix"/> (the API under <c>{prefix}/api</c>, its
    /// OpenAPI document at <c>{prefix}/api/openapi/patterns-dashboard.json</c>) and returns the group, so that
    /// <c>.RequireAuthorization(...)</c> applies to all of it. The repair console is mapped when an
    /// <see cref="IWorkflowMessageStore"/> is registered; the operations view (<c>{prefix}/ops</c>) shows a page for each
    /// pattern whose components are registered. Throws at start-up when <see cref="AddPatternsDashboard"/> was not called,
    /// when a workflow store is registered without a <see cref="WorkflowEventClient"/>, when there is nothing to show
    /// (no workflow store and no pattern in use), or when a policy named in the options is not registered.
    /// </summary>
    public static RouteGroupBuilder MapPatternsDashboard(this IEndpointRouteBuilder endpoints, string prefix = "/patterns")
    {
        ArgumentNullException.ThrowIfNull(endpoints);
        ArgumentNullException.ThrowIfNull(prefix);
        prefix = "/" + prefix.Trim().Trim('/');
        if (prefix == "/")
            throw new ArgumentException("The console needs a prefix of its own, e.g. \"/patterns\" (it was empty or \"/\").", nameof(prefix));
        var services = endpoints.ServiceProvider;
        var options = services.GetService<PatternsDashboardOptions>()
            ?? throw new InvalidOperationException("MapPatternsDashboard needs services.AddPatternsDashboard() first (it registers the console's options and services).");
        var registered = services.GetRequiredService<IServiceProviderIsService>();
        var workflow = registered.IsService(typeof(IWorkflowMessageStore));
        if (workflow && !registered.IsService(typeof(WorkflowEventClient)))
            throw new InvalidOperationException(
                "The repair console changes messages through the workflow processor, and no WorkflowEventClient is registered: register the processor with x.AddWorkflowEventProcessor() in AddMassTransit, or register a WorkflowEventClient for a processor elsewhere.");
        var operations = OperationsPages.InUse(services);
        if (!workflow && operations.Count == 0)
            throw new InvalidOperationException(
                "The console has nothing to show: no IWorkflowMessageStore is registered (the repair console reads it: register the workflow processor with x.AddWorkflowEventProcessor(), and for EF Core the workflow store of MassTransit.Patterns.EntityFrameworkCore) and no pattern's components are registered for the operations view (register them before mapping the console).");
        var policies = services.GetRequiredService<IAuthorizationPolicyProvider>();
        foreach (var (name, policy) in new[]
                 {
                     ("View", options.Policies.View), ("Edit", options.Policies.Edit), ("Resubmit", options.Policies.Resubmit), ("Discard", options.Policies.Discard),
                     ("Operate", options.Policies.Operate)
                 })
            if (policy is not null && policies.GetPolicyAsync(policy).GetAwaiter().GetResult() is null)
                throw new InvalidOperationException(
                    $"PatternsDashboardOptions.Policies.{name} names the policy '{policy}', which is not registered: add it with services.AddAuthorization(o => o.AddPolicy(\"{policy}\", ...)).");

        var sections = new DashboardSections(workflow, operations);
        var group = endpoints.MapGroup(prefix);
        group.MapGet("/assets/{name}", (HttpContext http, string name) => DashboardAssets.Serve(http, name)).ExcludeFromDescription();
        if (workflow)
        {
            DashboardApi.Map(group);
            DashboardPages.Map(group, prefix, sections);
        }
        else
        {
            group.MapGet("/", (HttpContext http) => Results.Redirect(http.Request.PathBase + prefix + "/ops")).ExcludeFromDescription();
            // The operations view's actions need the antiforgery token too (an API client has no page to read it from).
            DashboardApi.MapAntiforgery(group.MapGroup("/api").WithGroupName(DashboardApi.DocumentName).WithTags("Operations"));
        }
        OperationsRoutes.Map(group, prefix, sections);
        // Only the console's own document under its prefix (not the app's). No regex route constraint: an app built with
        // WebApplication.CreateSlimBuilder has none registered, and every route would fail.
        group.MapOpenApi("/api/openapi/{documentName}.json")
            .AddEndpointFilter(new DashboardGuard(DashboardAction.View, false))
            .AddEndpointFilter((context, next) =>
                Equals(context.HttpContext.Request.RouteValues["documentName"], DashboardApi.DocumentName) ? next(context) : ValueTask.FromResult<object?>(Results.NotFound()));
        return group;
    }
}
