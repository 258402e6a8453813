namespace MassTransit.Patterns.Dashboard.Operations;

/// <summary>What a page needs to know while rendering besides its state.</summary>
/// <param name="BasePath">The console's path (path base and prefix), for links.</param>
/// <param name="Slug">The page's slug.</param>
/// <param name="CanOperate">True when the user may take the page's actions (render their controls only then).</param>
/// <param name="Now">The time the state was read.</param>
sealed record OperationsRenderContext(string BasePath, string Slug, bool CanOperate, DateTimeOffset Now)
{
    /// <summary>The URL of one of the page's actions (POST, JSON body, antiforgery header).</summary>
    public string ActionUrl(string action) => BasePath + "/api/ops/" + Slug + "/" + action;
}
