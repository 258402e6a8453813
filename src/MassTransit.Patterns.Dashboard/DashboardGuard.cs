using Microsoft.AspNetCore.Antiforgery;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;

namespace MassTransit.Patterns.Dashboard;

/// <summary>
/// Runs before each console endpoint: the action's policy (401/403), and for a change the antiforgery token
/// (header <see cref="HeaderName"/> plus its cookie; 400 without them).
/// </summary>
sealed class DashboardGuard(DashboardAction action, bool changes) : IEndpointFilter
{
    public const string HeaderName = "RequestVerificationToken";

    public async ValueTask<object?> InvokeAsync(EndpointFilterInvocationContext context, EndpointFilterDelegate next)
    {
        var http = context.HttpContext;
        var access = http.RequestServices.GetRequiredService<DashboardAccess>();
        if (await access.RefusalAsync(http, action).ConfigureAwait(false) is { } refusal)
            return refusal;
        if (changes)
        {
            try
            {
                await http.RequestServices.GetRequiredService<IAntiforgery>().ValidateRequestAsync(http).ConfigureAwait(false);
            }
            catch (AntiforgeryValidationException)
            {
                return Results.Problem(statusCode: StatusCodes.Status400BadRequest, title: "Antiforgery token missing or invalid",
                    detail: $"A change must carry the antiforgery token in the header {HeaderName} and its cookie: get both from GET api/antiforgery (or the page's meta tag), then send them with the request.");
            }
        }
        return await next(context).ConfigureAwait(false);
    }
}
