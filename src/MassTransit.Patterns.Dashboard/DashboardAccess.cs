using System.Security.Claims;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Http;

namespace MassTransit.Patterns.Dashboard;

/// <summary>Who may do what (the policies of <see cref="PatternsDashboardOptions.Policies"/>) and who is recorded as having done it.</summary>
sealed class DashboardAccess(PatternsDashboardOptions options, IAuthorizationService authorization, IAuthenticationSchemeProvider? schemes = null)
{
    public string? Policy(DashboardAction action) => action switch
    {
        DashboardAction.View => options.Policies.View,
        DashboardAction.Edit => options.Policies.Edit,
        DashboardAction.Resubmit => options.Policies.Resubmit,
        DashboardAction.Discard => options.Policies.Discard,
        DashboardAction.Operate => options.Policies.Operate,
        _ => throw new ArgumentOutOfRangeException(nameof(action), action, "Not a console action.")
    };

    /// <summary>True when the request's user satisfies the action's policy (always, when it has none).</summary>
    public async Task<bool> AllowedAsync(HttpContext context, DashboardAction action)
    {
        if (Policy(action) is not { } policy)
            return true;
        var result = await authorization.AuthorizeAsync(context.User, policy).ConfigureAwait(false);
        return result.Succeeded;
    }

    /// <summary>Null when allowed, otherwise the refusal: 401 for an anonymous user, 403 for a signed-in one.</summary>
    public async Task<IResult?> RefusalAsync(HttpContext context, DashboardAction action)
    {
        if (await AllowedAsync(context, action).ConfigureAwait(false))
            return null;
        var policy = Policy(action);
        return IsSignedIn(context.User)
            ? Results.Problem(statusCode: StatusCodes.Status403Forbidden, title: "Forbidden",
                detail: $"{Name(context.User) ?? "this user"} does not satisfy the policy '{policy}' that {action.ToString().ToLowerInvariant()} requires.")
            : Results.Problem(statusCode: StatusCodes.Status401Unauthorized, title: "Unauthorized",
                detail: $"Sign in: {action.ToString().ToLowerInvariant()} requires the policy '{policy}'.");
    }

    /// <summary>True when the app registers no authentication scheme (then <see cref="PatternsDashboardOptions.ActorWhenAnonymous"/> may name the actor).</summary>
    public async Task<bool> AuthenticationOffAsync() => schemes is null || !(await schemes.GetAllSchemesAsync().ConfigureAwait(false)).Any();

    /// <summary>The name recorded for a change, or the refusal saying why nobody can be named.</summary>
    public async Task<(string? Actor, IResult? Refusal)> ActorAsync(HttpContext context)
    {
        if (IsSignedIn(context.User))
        {
            return Name(context.User) is { Length: > 0 } name
                ? (name, null)
                : (null, Results.Problem(statusCode: StatusCodes.Status403Forbidden, title: "Forbidden",
                    detail: "The signed-in user has no name (no Name or NameIdentifier claim): a change must be recorded with who made it."));
        }
        var off = await AuthenticationOffAsync().ConfigureAwait(false);
        if (off && options.ActorWhenAnonymous is { } fallback)
            return (fallback, null);
        return (null, Results.Problem(statusCode: StatusCodes.Status401Unauthorized, title: "Unauthorized",
            detail: off
                ? "Authentication is off and PatternsDashboardOptions.ActorWhenAnonymous is not set: nobody could be named in the audit, so changes are refused. Turn authentication on or set ActorWhenAnonymous."
                : "Sign in: every change is recorded with the signed-in user's name."));
    }

    static bool IsSignedIn(ClaimsPrincipal user) => user.Identity?.IsAuthenticated == true;

    static string? Name(ClaimsPrincipal user) => user.Identity?.Name ?? user.FindFirst(ClaimTypes.NameIdentifier)?.Value;
}
