namespace MassTransit.Patterns.Dashboard;

/// <summary>The token a script sends in <see cref="HeaderName"/> with each change (the cookie set with it must be sent too).</summary>
sealed record AntiforgeryTokenResponse(string HeaderName, string Token);
