using System.Security.Claims;
using System.Text.Encodings.Web;
using Microsoft.AspNetCore.Authentication;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace MassTransit.Patterns.Dashboard.BrowserTests;

/// <summary>
/// The test host's sign-in: the cookie <see cref="CookieName"/> names the user (the browser context sets it). Olivia is an
/// operator (view, edit, resubmit, discard); Victor may only read. No cookie: anonymous.
/// </summary>
public sealed class TestUsers(IOptionsMonitor<AuthenticationSchemeOptions> options, ILoggerFactory logger, UrlEncoder encoder)
    : AuthenticationHandler<AuthenticationSchemeOptions>(options, logger, encoder)
{
    public const string SchemeName = "test-users";
    public const string CookieName = "test-user";
    public const string OperatorsPolicy = "operators";
    public const string OperatorRole = "operator";

    public const string Operator = "olivia";
    public const string ReadOnly = "victor";

    protected override Task<AuthenticateResult> HandleAuthenticateAsync()
    {
        var name = Request.Cookies[CookieName];
        string[]? roles = name switch
        {
            Operator => [OperatorRole],
            ReadOnly => ["viewer"],
            _ => null
        };
        if (roles is null)
            return Task.FromResult(AuthenticateResult.NoResult());
        var claims = new List<Claim> { new(ClaimTypes.Name, name!) };
        claims.AddRange(roles.Select(r => new Claim(ClaimTypes.Role, r)));
        var principal = new ClaimsPrincipal(new ClaimsIdentity(claims, SchemeName));
        return Task.FromResult(AuthenticateResult.Success(new AuthenticationTicket(principal, SchemeName)));
    }
}
