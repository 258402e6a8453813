using MassTransit.Patterns.Dashboard;
using MassTransit.Patterns.Workflow;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace MassTransit;

/// <summary>Mounts the repair console of the workflow event pattern in an ASP.NET Core app.</summary>
public static class PatternsDashboardExtensions
{
    /// <summary>
    /// Registers the repair console: its options (validated here: a bad one throws naming it and its value),
    /// authorization, antiforgery and its OpenAPI document. The app also registers the workflow processor
    /// (<c>x.AddWorkflowEventProcessor()</c>, which registers <see cref="WorkflowEventClient"/>) and a workflow store
    /// (<see cref="IWorkflowMessageStore"/>); <see cref="MapPatternsDashboard"/> checks both.
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
        services.AddAuthorization();
        services.AddAntiforgery();
        services.AddOpenApi(DashboardApi.DocumentName, o => o.ShouldInclude = d => d.GroupName == DashboardApi.DocumentName);
        return services;
    }

    /// <summary>
    /// Maps the console's pages and its JSON API under <paramref name="prefix"/> (the API under <c>{prefix}/api</c>, its
    /// OpenAPI document at <c>{prefix}/api/openapi/patterns-dashboard.json</c>) and returns the group, so that
    /// <c>.RequireAuthorization(...)</c> applies to all of it. Throws at start-up when <see cref="AddPatternsDashboard"/>
    /// was not called, when no <see cref="IWorkflowMessageStore"/> or <see cref="WorkflowEventClient"/> is registered, or
    /// when a policy named in the options is not registered.
    /// </summary>
    public static RouteGroupBuilder MapPatternsDashboard(this IEndpointRouteBuilder endpoints, string prefix = "/patterns")
    {
        ArgumentNullException.ThrowIfNull(endpoints);
        ArgumentNullException.ThrowIfNull(prefix);
        prefix = "/" + prefix.Trim().Trim('/');
        if (prefix == "/")
            throw new ArgumentException("The repair console needs a prefix of its own, e.g. \"/patterns\" (it was empty or \"/\").", nameof(prefix));
        var services = endpoints.ServiceProvider;
        var options = services.GetService<PatternsDashboardOptions>()
            ?? throw new InvalidOperationException("MapPatternsDashboard needs services.AddPatternsDashboard() first (it registers the console's options and services).");
        var registered = services.GetRequiredService<IServiceProviderIsService>();
        if (!registered.IsService(typeof(IWorkflowMessageStore)))
            throw new InvalidOperationException(
                "The repair console reads the workflow store, and no IWorkflowMessageStore is registered: register one (EF Core: the workflow store of MassTransit.Patterns.EntityFrameworkCore; tests and in-memory apps: services.AddWorkflowMessageStoreOverSagaRepository()).");
        if (!registered.IsService(typeof(WorkflowEventClient)))
            throw new InvalidOperationException(
                "The repair console changes messages through the workflow processor, and no WorkflowEventClient is registered: register the processor with x.AddWorkflowEventProcessor() in AddMassTransit, or register a WorkflowEventClient for a processor elsewhere.");
        var policies = services.GetRequiredService<IAuthorizationPolicyProvider>();
        foreach (var (name, policy) in new[] { ("View", options.Policies.View), ("Edit", options.Policies.Edit), ("Resubmit", options.Policies.Resubmit), ("Discard", options.Policies.Discard) })
            if (policy is not null && policies.GetPolicyAsync(policy).GetAwaiter().GetResult() is null)
                throw new InvalidOperationException(
                    $"PatternsDashboardOptions.Policies.{name} names the policy '{policy}', which is not registered: add it with services.AddAuthorization(o => o.AddPolicy(\"{policy}\", ...)).");

        var group = endpoints.MapGroup(prefix);
        DashboardApi.Map(group);
        DashboardPages.Map(group, prefix);
        // Only the console's own document under its prefix (not the app's). No regex route constraint: an app built with
        // WebApplication.CreateSlimBuilder has none registered, and every route would fail.
        group.MapOpenApi("/api/openapi/{documentName}.json")
            .AddEndpointFilter(new DashboardGuard(DashboardAction.View, false))
            .AddEndpointFilter((context, next) =>
                Equals(context.HttpContext.Request.RouteValues["documentName"], DashboardApi.DocumentName) ? next(context) : ValueTask.FromResult<object?>(Results.NotFound()));
        return group;
    }
}
